"""Password rules (NIST SP 800-63B style) and argon2id hashing.

Rules: NFKC-normalised, at least 15 characters, at least 64 accepted (we take up to
256), no composition rules, never truncated, and refused when it is one of the most
common passwords (zxcvbn's list of 30,000), made of one such password repeated, or
built from the user's own name or mail address, the plan's name or the product's name (the
context-specific words of ASVS 5.0 6.1.2: compared without spaces or punctuation).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chalicelib.errors import PasswordRejected

MIN_LENGTH = 15
# Always refused besides the plan's own name, which callers pass.
PRODUCT_WORDS = ("sealpost",)
_NOT_A_LETTER = re.compile(r"[\W_]+")
MAX_LENGTH = 256

# OWASP's argon2id baseline: m=19 MiB, t=2, p=1.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's frequency-ranked list of the 30,000 most common passwords (loaded on first use)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def _is_repetition_of_common(lowered: str) -> bool:
    common = common_passwords()
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0:
            unit = lowered[:size]
            if unit * (len(lowered) // size) == lowered and (size == 1 or unit in common):
                return True
    return False


def check_new_password(password: str, *, context: tuple[str, ...] = (), names: tuple[str, ...] = ()) -> str:
    """Return the normalised password, or raise ``PasswordRejected`` with a reason a person understands.

    ``context`` holds words the password must not be built from (user name, mail address); ``names``
    the plan's names, refused like the product's own.
    """
    if not isinstance(password, str):
        raise PasswordRejected("Enter a password.")
    normalized = normalize(password)
    length = len(normalized)
    if length < MIN_LENGTH:
        raise PasswordRejected(
            f"Use at least {MIN_LENGTH} characters. A few unrelated words make a long password "
            "that is easy to remember."
        )
    if length > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    lowered = normalized.lower()
    if lowered in common_passwords():
        raise PasswordRejected(
            "This password is on a list of commonly used passwords that attackers try first. Choose another one."
        )
    if _is_repetition_of_common(lowered):
        raise PasswordRejected("This password repeats a common word or character. Choose something less predictable.")
    for word in context:
        word = normalize(word).lower()
        parts = {word, word.partition("@")[0]}
        if any(part and len(part) >= 4 and part in lowered for part in parts):
            raise PasswordRejected("Do not use your user name or mail address in your password.")
    compact = _NOT_A_LETTER.sub("", lowered)
    for name in PRODUCT_WORDS + names:
        word = _NOT_A_LETTER.sub("", normalize(name).lower())
        if len(word) >= 4 and word in compact:
            raise PasswordRejected("Do not use the name of the plan or of this portal in your password.")
    return normalized


def hash_password(normalized: str) -> str:
    return _hasher.hash(normalized)


def verify_password(stored_hash: str, candidate: str) -> bool:
    """True when ``candidate`` matches. Never raises for a wrong password or a damaged hash."""
    try:
        return _hasher.verify(stored_hash, normalize(candidate))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user is unknown, so that timing does not tell."""
    return _hasher.hash("sealpost-dummy-password-for-unknown-users")
