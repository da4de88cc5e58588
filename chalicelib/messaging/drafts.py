"""What a person wants to send, checked before anything is encrypted or stored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.addresses import validate_email
from chalicelib.errors import InvalidRequest
from chalicelib.limits import (
    MAX_ATTACHMENTS,
    MAX_HTML,
    MAX_RECIPIENTS,
    MAX_SUBJECT,
    MAX_TEXT,
    clean_content_type,
    clean_filename,
)
from chalicelib.text import one_line


@dataclass(frozen=True)
class AttachmentInput:
    upload_id: str
    filename: str
    content_type: str


@dataclass(frozen=True)
class Draft:
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[AttachmentInput, ...] = ()


def _text(raw: Any, name: str, limit: int, *, required: bool) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidRequest(f"The {name} is required.", field=name)
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest(f"The {name} must be text.", field=name)
    if len(raw) > limit:
        raise InvalidRequest(f"The {name} may be at most {limit:,} characters.", field=name)
    if "\x00" in raw:
        raise InvalidRequest(f"The {name} contains characters that are not allowed.", field=name)
    return raw


def attachment_filename(raw: Any) -> str:
    """The one file-name rule (``clean_filename``); a name with nothing usable left is refused."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest("Each attachment needs a file name.", field="attachments")
    name = clean_filename(raw)
    if not name:
        raise InvalidRequest("An attachment's file name is not usable.", field="attachments")
    return name


def parse_attachments(raw: Any) -> tuple[AttachmentInput, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidRequest("Attachments must be a list.", field="attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise InvalidRequest(f"At most {MAX_ATTACHMENTS} attachments per message.", field="attachments")
    parsed = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("upload_id"), str):
            raise InvalidRequest("Each attachment needs its upload_id and file name.", field="attachments")
        content_type = clean_content_type(item.get("content_type"))
        parsed.append(AttachmentInput(item["upload_id"], attachment_filename(item.get("filename")), content_type))
    return tuple(parsed)


def parse_draft(
    raw_subject: Any, raw_text: Any, raw_html: Any = None, raw_attachments: Any = None, *, subject_required: bool = True
) -> Draft:
    subject = one_line(_text(raw_subject, "subject", MAX_SUBJECT, required=subject_required), MAX_SUBJECT)
    html = _text(raw_html, "html", MAX_HTML, required=False) or None
    text = _text(raw_text, "text", MAX_TEXT, required=html is None)
    return Draft(subject=subject, text=text, html=html, attachments=parse_attachments(raw_attachments))


def parse_recipients(raw: Any) -> list[str]:
    """A non-empty list of mail addresses (validated, lower-cased, without duplicates)."""
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[,;\s]+", raw) if part]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("Name at least one recipient.", field="recipients")
    if len(raw) > MAX_RECIPIENTS:
        raise InvalidRequest(f"At most {MAX_RECIPIENTS} recipients.", field="recipients")
    return list(dict.fromkeys(validate_email(address, "recipients") for address in raw))
