"""Mail addresses as Sealpost accepts them, from a form, the API or a mail header: one rule."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from chalicelib.errors import InvalidRequest

EMAIL_PATTERN = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
MAX_ADDRESS = 254


def normalize_address(raw: str) -> str | None:
    """The address NFKC-normalised and lower-cased, or None when it is not one we accept."""
    address = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(address) > MAX_ADDRESS or not EMAIL_PATTERN.match(address):
        return None
    return address


def validate_email(raw: Any, field: str = "email") -> str:
    """``normalize_address`` for input from people: a clear error naming ``field`` when it is not valid."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest("Enter a mail address.", field=field)
    address = normalize_address(raw)
    if address is None:
        raise InvalidRequest("This is not a valid mail address.", field=field)
    return address


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()
