"""Raw inbound MIME (stored by the SES receipt rule) into a checked value object.

``parse_mail`` uses the standard library's parser with ``policy.default`` (made to read
headers whose encoded words decode to lone surrogates: ``mime_headers``) under limits:
total size, number of MIME parts, nesting depth and header size. Parts are counted while
the parser creates them, so a message of a million tiny parts is refused before it fills
the memory. Malformed or oversized input raises
``MailRefused`` with a reason code (for a bounce-style notice to the sender); there
are no partial results: every leaf part ends up as the text body, the HTML body or an
attachment, or the whole message is refused.

``check_receipt`` accepts the SES notification's ``receipt`` only when SPF, DKIM and
DMARC passed and neither the spam nor the virus verdict is FAIL.

Nothing here logs or raises with message content: errors carry fixed texts and codes.
Header values are rebuilt by ``one_line`` (one line, no control or line-breaking
characters, bounded), never handed on raw.
"""

from __future__ import annotations

import codecs
import logging
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email import errors as email_errors
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from enum import StrEnum
from typing import Any

from chalicelib.addresses import normalize_address
from chalicelib.errors import SealpostError
from chalicelib.gateway.mime_headers import TOLERANT_POLICY
from chalicelib.limits import (
    DEFAULT_CONTENT_TYPE,
    MAX_DISPLAY_NAME,
    MAX_SUBJECT,
    clean_content_type,
    clean_filename,
)
from chalicelib.settings import Settings
from chalicelib.text import header_text, one_line, without_surrogates

log = logging.getLogger(__name__)

MAX_MESSAGE_IDS = 20
MAX_MESSAGE_ID_LENGTH = 250


class RefusalReason(StrEnum):
    TOO_LARGE = "too_large"
    TOO_MANY_PARTS = "too_many_parts"
    TOO_DEEP = "too_deep"
    HEADERS_TOO_LARGE = "headers_too_large"
    MALFORMED = "malformed"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    UNKNOWN_CHARSET = "unknown_charset"
    BAD_SENDER = "bad_sender"
    BAD_RECIPIENT = "bad_recipient"
    NO_RECIPIENTS = "no_recipients"
    TOO_MANY_RECIPIENTS = "too_many_recipients"
    NOT_AUTHENTICATED = "not_authenticated"
    RECEIPT_INCOMPLETE = "receipt_incomplete"
    SPAM = "spam"
    VIRUS = "virus"


_PUBLIC_MESSAGES: dict[RefusalReason, str] = {
    RefusalReason.TOO_LARGE: "The message is larger than the secure mail gateway accepts.",
    RefusalReason.TOO_MANY_PARTS: "The message has more parts or attachments than the secure mail gateway accepts.",
    RefusalReason.TOO_DEEP: "The message nests attachments or forwarded messages too deeply.",
    RefusalReason.HEADERS_TOO_LARGE: "The message's header section is larger than the secure mail gateway accepts.",
    RefusalReason.MALFORMED: "The message is not a well-formed email and could not be read.",
    RefusalReason.UNSUPPORTED_ENCODING: "The message uses a transfer encoding the secure mail gateway does not accept.",
    RefusalReason.UNKNOWN_CHARSET: "The message uses a character set the secure mail gateway does not know.",
    RefusalReason.BAD_SENDER: "The message's sender (From) is missing or is not one valid mail address.",
    RefusalReason.BAD_RECIPIENT: "A recipient address in To, Cc or Bcc is not a valid mail address.",
    RefusalReason.NO_RECIPIENTS: "The message names no recipient in To, Cc or Bcc.",
    RefusalReason.TOO_MANY_RECIPIENTS: "The message has more recipients than the secure mail gateway accepts.",
    RefusalReason.NOT_AUTHENTICATED: "The message could not be authenticated as coming from its sender.",
    RefusalReason.RECEIPT_INCOMPLETE: "The mail service did not report all checks for this message.",
    RefusalReason.SPAM: "The message was classified as spam.",
    RefusalReason.VIRUS: "The message was classified as containing a virus.",
}


class MailRefused(SealpostError):
    """A mail the gateway will not handle. ``reason`` is a stable code; ``failed`` names failed checks.

    Neither the message nor ``failed`` ever holds mail content: only fixed texts and names
    such as ``"spf"``.
    """

    code = "mail_refused"
    default_message = "The message was not accepted by the secure mail gateway."

    def __init__(self, reason: RefusalReason, *, failed: tuple[str, ...] = ()) -> None:
        super().__init__(_PUBLIC_MESSAGES[reason])
        self.reason = reason
        self.failed = failed


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 100
    max_depth: int = 10
    max_header_bytes: int = 64 * 1024
    max_recipients: int = 500

    @classmethod
    def for_settings(cls, settings: Settings) -> Limits:
        return cls(max_bytes=settings.max_mail_bytes)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class InboundMail:
    """A parsed mail. Subject, bodies and attachments are left out of ``repr`` (they may hold PHI)."""

    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    subject: str = field(repr=False)
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str | None = field(repr=False)
    html: str | None = field(repr=False)
    attachments: tuple[Attachment, ...] = field(repr=False)
    size: int

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Ids this mail answers, most recent first (In-Reply-To, then References from the end)."""
        seen: dict[str, None] = {}
        for found in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(found, None)
        return tuple(seen)


# --- parsing ------------------------------------------------------------------------------

_FATAL_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.FirstHeaderLineIsContinuationDefect,
    email_errors.MisplacedEnvelopeHeaderDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.InvalidMultipartContentTransferEncodingDefect,
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64LengthDefect,
)
_ADDRESS_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.InvalidHeaderDefect,
    email_errors.HeaderMissingRequiredValue,
    email_errors.NonPrintableDefect,
    email_errors.NonASCIILocalPartDefect,
)
_TRANSFER_ENCODINGS = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})
_MESSAGE_ID = re.compile(r"<([\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250})>")
_POLICY = TOLERANT_POLICY  # policy.default that reads encoded words decoding to lone surrogates
_FEED_CHUNK = 64 * 1024


class _PartFactory:
    """Makes the parser's message objects and refuses the one past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def __call__(self, policy: Any = _POLICY) -> EmailMessage:
        self.count += 1
        if self.count > self.limit:
            raise MailRefused(RefusalReason.TOO_MANY_PARTS)
        return EmailMessage(policy=policy)


# A CR not followed by LF, or an LF not preceded by CR.
_STRAY_IN_CRLF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def parse_mail(raw: bytes, limits: Limits | None = None, *, ignore: Iterable[str] = ()) -> InboundMail:
    """Parse ``raw`` MIME into an ``InboundMail`` or raise ``MailRefused``. Never raises anything else.

    ``ignore`` lists addresses that are not real recipients (the gateway's own receiving
    address); they are dropped from the recipients.
    """
    limits = limits or Limits()
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise MailRefused(RefusalReason.MALFORMED)
    if len(raw) > limits.max_bytes:
        raise MailRefused(RefusalReason.TOO_LARGE)
    try:
        message = _parse(bytes(raw), limits)
        _check_structure(message, limits)
        return _extract(message, len(raw), limits, {a.strip().lower() for a in ignore})
    except MailRefused:
        raise
    except Exception as exc:  # the parser is lenient but not bug-free: anything unexpected is a refusal
        log.warning("inbound mail could not be parsed", extra={"error": type(exc).__name__})
        raise MailRefused(RefusalReason.MALFORMED) from None


def _one_line_ending(raw: bytes) -> bytes:
    """``raw`` with its header section's stray line breaks made spaces: a CR without its LF (and, in
    CRLF mail, an LF without its CR) ends no line. Python's parser would end a header there, so a
    Subject holding one could add a Bcc: recipient. The body is left as it came."""
    # The first line says which (SES writes it, with CRLF); a mail of LF lines stays one.
    first_end = raw.find(b"\n")
    crlf = first_end > 0 and raw[first_end - 1 : first_end] == b"\r"
    blank = b"\r\n\r\n" if crlf else b"\n\n"
    found = raw.find(blank)
    end = len(raw) if found < 0 else found + len(blank)
    head = raw[:end]
    cleaned = _STRAY_IN_CRLF.sub(b" ", head) if crlf else head.replace(b"\r", b" ")
    return raw if cleaned == head else cleaned + raw[end:]  # (a copy of the body only when needed)


def _parse(raw: bytes, limits: Limits) -> EmailMessage:
    raw = _one_line_ending(raw)
    factory = _PartFactory(limits.max_parts)
    parser = BytesFeedParser(factory, policy=_POLICY)
    factory.count = 0  # the parser calls the factory once to try it
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_CHUNK):
        # In pieces: the parser works as it is fed, so the part limit stops it early.
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def _walk(part: Message, depth: int = 1) -> Iterator[tuple[Message, int]]:
    yield part, depth
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for child in payload:
                if isinstance(child, Message):
                    yield from _walk(child, depth + 1)


def _header_bytes(part: Message) -> int:
    return sum(len(name) + len(str(value)) + 4 for name, value in part.raw_items())


def _check_structure(message: EmailMessage, limits: Limits) -> None:
    for part, depth in _walk(message):
        if depth > limits.max_depth:
            raise MailRefused(RefusalReason.TOO_DEEP)
        if _header_bytes(part) > limits.max_header_bytes:
            raise MailRefused(RefusalReason.HEADERS_TOO_LARGE)
        if any(isinstance(defect, _FATAL_DEFECTS) for defect in part.defects):
            raise MailRefused(RefusalReason.MALFORMED)
        if part.get_content_maintype() != "multipart" and part.get_content_maintype() != "message":
            encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
            if encoding not in _TRANSFER_ENCODINGS:
                raise MailRefused(RefusalReason.UNSUPPORTED_ENCODING)


def _extract(message: EmailMessage, size: int, limits: Limits, ignore: set[str]) -> InboundMail:
    sender, sender_name = _sender(message)
    recipients = _recipients(message, ignore, limits.max_recipients)
    subject = _subject(message)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = _text_of(text_part) if text_part is not None else None
    html = _text_of(html_part) if html_part is not None else None
    bodies = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = tuple(_attachments(message, bodies))
    message_ids = _message_ids(message.get("Message-ID"))
    return InboundMail(
        sender=sender,
        sender_name=sender_name,
        recipients=recipients,
        subject=subject,
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_message_ids(message.get("In-Reply-To"))[:1],
        references=_message_ids(message.get("References"))[-MAX_MESSAGE_IDS:],
        text=text,
        html=html,
        attachments=attachments,
        size=size,
    )


def _subject(message: EmailMessage) -> str:
    raw = [value for name, value in message.raw_items() if name.lower() == "subject"]
    if len(raw) > 1:
        raise MailRefused(RefusalReason.MALFORMED)
    if not raw:
        return ""
    try:
        return one_line(message["Subject"], MAX_SUBJECT)
    except UnicodeError:  # encoded words in a charset (UTF-7) that decodes to lone surrogates
        return header_text(raw[0], MAX_SUBJECT)


# --- addresses ----------------------------------------------------------------------------


def _address_headers(message: EmailMessage, name: str, reason: RefusalReason) -> list[Any]:
    try:
        return list(message.get_all(name) or [])
    except Exception:  # the standard library's address parser raises on some inputs (e.g. "a@")
        raise MailRefused(reason) from None


def _sender(message: EmailMessage) -> tuple[str, str]:
    headers = _address_headers(message, "From", RefusalReason.BAD_SENDER)
    if len(headers) != 1:
        raise MailRefused(RefusalReason.BAD_SENDER)
    header = headers[0]
    addresses: tuple[Any, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or any(isinstance(d, _ADDRESS_DEFECTS) for d in getattr(header, "defects", ())):
        raise MailRefused(RefusalReason.BAD_SENDER)
    address = normalize_address(addresses[0].addr_spec)
    if address is None:
        raise MailRefused(RefusalReason.BAD_SENDER)
    return address, one_line(addresses[0].display_name, MAX_DISPLAY_NAME)


def _recipients(message: EmailMessage, ignore: set[str], limit: int) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for name in ("To", "Cc", "Bcc"):
        for header in _address_headers(message, name, RefusalReason.BAD_RECIPIENT):
            if any(isinstance(d, _ADDRESS_DEFECTS) for d in getattr(header, "defects", ())):
                raise MailRefused(RefusalReason.BAD_RECIPIENT)
            for mailbox in getattr(header, "addresses", ()):
                address = normalize_address(mailbox.addr_spec)
                if address is None:
                    raise MailRefused(RefusalReason.BAD_RECIPIENT)
                if address not in ignore:
                    found.setdefault(address, None)
                if len(found) > limit:
                    raise MailRefused(RefusalReason.TOO_MANY_RECIPIENTS)
    if not found:
        raise MailRefused(RefusalReason.NO_RECIPIENTS)
    return tuple(found)


def _message_ids(header: object) -> tuple[str, ...]:
    if header is None:
        return ()
    ids: dict[str, None] = {}
    for match in _MESSAGE_ID.finditer(str(header)):
        if len(match.group(1)) <= MAX_MESSAGE_ID_LENGTH:
            ids.setdefault(match.group(1), None)
    return tuple(ids)


# --- bodies and attachments ---------------------------------------------------------------


def _decoded(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    # Decoding registers base64 defects on the part: a damaged body is refused, never half-read.
    if any(isinstance(defect, _FATAL_DEFECTS) for defect in part.defects):
        raise MailRefused(RefusalReason.MALFORMED)
    return data if isinstance(data, bytes) else b""


def _text_of(part: Message) -> str:
    # No declared charset: UTF-8, a superset of the default US-ASCII that keeps 8-bit text readable.
    charset = part.get_content_charset() or "utf-8"
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        raise MailRefused(RefusalReason.UNKNOWN_CHARSET) from None
    return without_surrogates(_decoded(part).decode(codec.name, errors="replace"))


def _leaves(part: Message) -> Iterator[Message]:
    """Leaf parts in order; a message/* part is one leaf (it travels whole, as an attachment)."""
    payload = part.get_payload() if part.get_content_maintype() == "multipart" else None
    if isinstance(payload, list):
        for child in payload:
            if isinstance(child, Message):
                yield from _leaves(child)
    else:
        yield part


def _attachments(message: EmailMessage, bodies: set[int]) -> Iterator[Attachment]:
    index = 0
    for part in _leaves(message):
        if id(part) in bodies:
            continue
        index += 1
        content_type = clean_content_type(part.get_content_type())
        if part.get_content_maintype() == "message":
            payload = part.get_payload()
            items = payload if isinstance(payload, list) else []
            data = b"\r\n".join(item.as_bytes(policy=_POLICY) for item in items if isinstance(item, Message))
        else:
            data = _decoded(part)
        content_id = _message_ids(part.get("Content-ID"))
        yield Attachment(
            filename=attachment_filename(part.get_filename(), content_type, index),
            content_type=content_type,
            data=data,
            content_id=content_id[0] if content_id else None,
            inline=part.get_content_disposition() == "inline",
        )


def attachment_filename(raw: str | None, content_type: str = DEFAULT_CONTENT_TYPE, index: int = 1) -> str:
    """The one file-name rule (``clean_filename``); a part without a usable name is named after its place."""
    name = clean_filename(raw or "")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    return name


# --- the SES receipt --------------------------------------------------------------------------

_AUTHENTICATION = (("spfVerdict", "spf"), ("dkimVerdict", "dkim"), ("dmarcVerdict", "dmarc"))


def _status(receipt: Mapping[str, Any], key: str) -> str | None:
    verdict = receipt.get(key)
    if not isinstance(verdict, Mapping):
        return None
    status = verdict.get("status")
    return status if isinstance(status, str) else None


def check_receipt(receipt: object) -> None:
    """Accept an SES ``receipt`` only if SPF, DKIM and DMARC are PASS and spam and virus are not FAIL.

    Raises ``MailRefused`` with ``failed`` naming the checks at fault.
    """
    if not isinstance(receipt, Mapping):
        raise MailRefused(RefusalReason.RECEIPT_INCOMPLETE, failed=("receipt",))
    keys = (*_AUTHENTICATION, ("spamVerdict", "spam"), ("virusVerdict", "virus"))
    missing = tuple(name for key, name in keys if _status(receipt, key) is None)
    if missing:
        raise MailRefused(RefusalReason.RECEIPT_INCOMPLETE, failed=missing)
    failed = tuple(name for key, name in _AUTHENTICATION if _status(receipt, key) != "PASS")
    if failed:
        raise MailRefused(RefusalReason.NOT_AUTHENTICATED, failed=failed)
    if _status(receipt, "virusVerdict") == "FAIL":
        raise MailRefused(RefusalReason.VIRUS, failed=("virus",))
    if _status(receipt, "spamVerdict") == "FAIL":
        raise MailRefused(RefusalReason.SPAM, failed=("spam",))
