"""Recovery codes: ten one-time codes for when the authenticator app is lost.

Each code is five groups of five characters from the 31 that cannot be misread on paper (the
break-glass alphabet): 25 random characters, about 124 bits, so a plain SHA-256 is enough to store
it (ASVS 6.5.2 asks for salted hashing only under 112 bits). Only the hashes are stored; the codes
are shown once, and using one removes its hash with a conditional DELETE (``FactorStore.use_recovery``).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from chalicelib.accounts.break_glass import PASSPHRASE_ALPHABET

COUNT = 10
GROUPS = 5
GROUP_LENGTH = 5
_SHAPE = re.compile(rf"^[{PASSPHRASE_ALPHABET}]{{{GROUPS * GROUP_LENGTH}}}$")


def new_codes() -> list[str]:
    return [
        "-".join("".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
        for _ in range(COUNT)
    ]


def clean_code(raw: str) -> str | None:
    """The code's 25 characters (case, spaces and hyphens ignored), or None when it cannot be one."""
    code = re.sub(r"[\s-]", "", raw).lower()
    return code if _SHAPE.match(code) else None


def code_hash(code: str) -> str:
    """The stored form of a code (given as shown or as ``clean_code`` leaves it)."""
    return hashlib.sha256((clean_code(code) or code).encode()).hexdigest()


def hashes(codes: list[str]) -> set[str]:
    return {code_hash(code) for code in codes}
