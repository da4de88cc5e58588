"""What a person wants to send, checked before anything is encrypted or stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.addresses import Recipient, parse_recipient_list
from chalicelib.errors import InvalidRequest, ManyProblems, SealpostError
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


# What a missing field asks for, in plain words; and how a field is named in a message.
_MISSING = {"subject": "Write a subject.", "text": "Write a message before sending."}
_LABEL = {"text": "message", "html": "message"}


def _text(raw: Any, name: str, limit: int, *, required: bool) -> str:
    label = _LABEL.get(name, name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidRequest(_MISSING.get(name, f"Write a {label}."), field=name)
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest(f"The {label} must be text.", field=name)
    if len(raw) > limit:
        raise InvalidRequest(f"The {label} is too long: it may be at most {limit:,} characters.", field=name)
    if "\x00" in raw:
        raise InvalidRequest(f"The {label} contains characters that are not allowed.", field=name)
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
    return [r.address for r in parse_recipient_entries(raw)]


def parse_recipient_entries(raw: Any) -> list[Recipient]:
    """Recipients as typed or pasted (``Name <address>``, separated by commas, semicolons or new lines),
    or a JSON list of such entries: one error names every entry that is not a valid address."""
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        raw = "\n".join(raw)
    if not isinstance(raw, str):
        raise InvalidRequest("Recipients must be text or a list of mail addresses.", field="recipients")
    found = parse_recipient_list(raw)
    if found.bad:
        named = ", ".join(repr(entry) for entry in found.bad)
        these = "These addresses are" if len(found.bad) > 1 else "This address is"
        raise InvalidRequest(f"{these} not valid: {named}. Check them and try again.", field="recipients")
    if not found.recipients:
        raise InvalidRequest("Name at least one recipient.", field="recipients")
    if len(found.recipients) > MAX_RECIPIENTS:
        raise InvalidRequest(f"Name at most {MAX_RECIPIENTS} recipients.", field="recipients")
    return list(found.recipients)


def display_names(recipients: list[Recipient]) -> dict[str, str]:
    """The display names given with the recipients, by address."""
    return {r.address: r.display_name for r in recipients if r.display_name}


def parse_new_thread(
    raw_subject: Any, raw_text: Any, raw_html: Any, raw_attachments: Any, raw_recipients: Any
) -> tuple[Draft, list[Recipient]]:
    """A new thread's draft and recipients, with every problem of the form raised at once."""
    problems: list[SealpostError] = []
    draft: Draft | None = None
    recipients: list[Recipient] = []
    try:
        recipients = parse_recipient_entries(raw_recipients)
    except SealpostError as error:
        problems.append(error)
    for check in (
        lambda: _text(raw_subject, "subject", MAX_SUBJECT, required=True),
        lambda: _text(raw_text, "text", MAX_TEXT, required=raw_html is None or raw_html == ""),
        lambda: parse_attachments(raw_attachments),
    ):
        try:
            check()
        except SealpostError as error:
            problems.append(error)
    if not problems:
        try:
            draft = parse_draft(raw_subject, raw_text, raw_html, raw_attachments)
        except SealpostError as error:
            problems.append(error)
    if problems or draft is None:
        raise problems[0] if len(problems) == 1 else ManyProblems(problems)
    return draft, recipients
