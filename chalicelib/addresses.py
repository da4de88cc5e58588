"""Mail addresses as Sealpost accepts them, from a form, the API or a mail header: one rule."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email import errors
from email.headerregistry import AddressHeader, HeaderRegistry
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


@dataclass(frozen=True)
class Recipient:
    """One recipient as typed or pasted: the normalised address and the display name given with it."""

    address: str
    display_name: str = ""


@dataclass(frozen=True)
class RecipientList:
    """A pasted list read entry by entry: the good recipients (first of each address) and the bad
    entries as typed, so that one error can name them all."""

    recipients: tuple[Recipient, ...]
    bad: tuple[str, ...]


_HEADERS = HeaderRegistry()
_SEPARATORS = frozenset(",;\r\n")


def _entries(raw: str) -> list[str]:
    """``raw`` cut at commas, semicolons (Outlook) and line ends that are not inside a quoted
    display name or an angle address, so that each entry can be parsed and named on its own."""
    entries: list[str] = []
    current: list[str] = []
    quoted = angled = escaped = False
    for char in raw:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"' and not angled:
            quoted = not quoted
        elif not quoted and char in "<>":
            angled = char == "<"
        elif not quoted and not angled and char in _SEPARATORS:
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    found: list[str] = []
    for entry in (e.strip() for e in entries):
        words = entry.split()
        if len(words) > 1 and not any(c in entry for c in '<>"') and all("@" in w for w in words):
            found.extend(words)  # addresses separated by spaces only, as the form always allowed
        elif entry:
            found.append(entry)
    return found


def _parse_entry(entry: str) -> Recipient | None:
    """One entry (``dana@x``, ``Dana Ortiz <dana@x>``, ``"Ortiz, Dana" <dana@x>``) through the
    standard library's header parser, then the one address rule; None when it is not one address."""
    try:
        header = _HEADERS("To", entry)
    except (IndexError, ValueError, TypeError):  # the parser gives up on some fragments ("dana@")
        return None
    if not isinstance(header, AddressHeader) or len(header.addresses) != 1:
        return None
    if any(isinstance(defect, errors.InvalidHeaderDefect) for defect in header.defects):
        return None
    parsed = header.addresses[0]
    address = normalize_address(parsed.addr_spec)
    if address is None:
        return None
    return Recipient(address, " ".join(parsed.display_name.split()))


def parse_recipient_list(raw: str) -> RecipientList:
    """Recipients as pasted from a mail program: separated by commas, semicolons or new lines, with or
    without display names; duplicates (in any case) collapsed, the first display name given kept."""
    good: dict[str, Recipient] = {}
    bad: list[str] = []
    for entry in _entries(raw):
        recipient = _parse_entry(entry)
        if recipient is None:
            bad.append(entry)
        elif recipient.address not in good or not good[recipient.address].display_name:
            good[recipient.address] = recipient
    return RecipientList(tuple(good.values()), tuple(dict.fromkeys(bad)))
