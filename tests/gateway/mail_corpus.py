"""A corpus of real-world mail for the gateway's tests, and the standard library's reading of it.

The mail comes from packages that ship it as test fixtures, installed by `make test` (the
Makefile's APT_PACKAGES), and read from where they install it; nothing third-party is copied
into this repository:

- Debian ``libpython3.11-testsuite``: CPython's ``test_email/data/msg_*.txt`` (bounces with
  message/delivery-status, forwards and digests of message/rfc822, koi8-r and iso-8859-*
  parts, PGP-signed mail, odd and broken MIME).
- Debian ``golang-github-jhillyerd-enmime-dev``: enmime's ``testdata/mail``, ``low-quality``
  and ``parts`` (mail from many clients, bad charsets, bad boundaries, malformed base64,
  8-bit file names, unknown transfer encodings, Big5 text).

Kinds that no package ships are hand-written under ``tests/gateway/corpus/`` (see its
README): Outlook TNEF, S/MIME, a calendar invitation, iso-2022-jp, big5, windows-1252,
koi8-r 8-bit, raw 8-bit headers, message/global bounces, uuencode, UTF-7 names.

``as_associates_mail`` rewrites only the envelope headers (From, To, Cc, Bcc, Sender and the
mbox separator line) so that a corpus mail is an associate's mail to outside recipients and
the gateway; every other byte stays as it was. ``expected_reading`` is what the standard
library's parser gives for a mail: the text and HTML bodies and each attachment's bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import pytest

from chalicelib.gateway.mime_headers import TOLERANT_POLICY
from chalicelib.text import without_surrogates

HERE = Path(__file__).parent / "corpus"
CPYTHON = Path("/usr/lib/python3.11/test/test_email/data")
ENMIME = Path("/usr/share/gocode/src/github.com/jhillyerd/enmime/testdata")


@dataclass(frozen=True)
class Source:
    name: str
    package: str
    folder: Path
    pattern: str


SOURCES = (
    Source("cpython", "libpython3.11-testsuite", CPYTHON, "msg_*.txt"),
    Source("enmime-mail", "golang-github-jhillyerd-enmime-dev", ENMIME / "mail", "*.raw"),
    Source("enmime-low-quality", "golang-github-jhillyerd-enmime-dev", ENMIME / "low-quality", "*.raw"),
    Source("enmime-parts", "golang-github-jhillyerd-enmime-dev", ENMIME / "parts", "*.raw"),
    Source("hand-written", "(this repository)", HERE, "*.eml"),
)


def corpus(source: Source) -> list[Path]:
    """The mail files of ``source``; fails (never skips) when the package that ships them is missing."""
    found = sorted(source.folder.glob(source.pattern))
    if not found:
        pytest.fail(
            f"mail corpus {source.name!r} missing at {source.folder}: install the Debian package "
            f"{source.package} (`make test` does)"
        )
    return found


# --- the envelope rewrite --------------------------------------------------------------------

ENVELOPE = frozenset({"from", "to", "cc", "bcc", "sender", "resent-from", "resent-to", "resent-cc", "resent-bcc"})
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


def as_associates_mail(raw: bytes, sender: str, recipients: list[str]) -> bytes:
    """``raw`` with its envelope headers replaced: From ``sender``, To ``recipients``. The new
    fields go where the parser's header section ends, in the mail's own line ending, so a broken
    first line or a missing blank line stays as broken as it was."""
    lines = _lines(raw)
    newline = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
    kept: list[bytes] = []
    index = 0
    if lines and lines[0].startswith(b"From "):  # an mbox separator: the old envelope
        index = 1
    dropping = False
    while index < len(lines):
        line = lines[index]
        if line.strip(b"\r\n") == b"":
            break
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
        else:
            field = _FIELD.match(line)
            if field is None:
                break  # the parser ends the header section here (a missing blank line)
            dropping = field.group(1).decode("ascii").lower() in ENVELOPE
            if not dropping:
                kept.append(line)
        index += 1
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += newline
    envelope = [b"From: " + sender.encode() + newline, b"To: " + ", ".join(recipients).encode() + newline]
    rest = b"".join(lines[index:])
    if index >= len(lines):
        rest = newline  # a mail of headers only
    return b"".join([*kept, *envelope]) + rest


# --- what the standard library reads -----------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    text: str | None
    html: str | None
    attachments: tuple[tuple[str, bytes], ...]  # (content type, bytes), in the mail's order


def _text(part: Message) -> str:
    """A text part as the standard library decodes it (its declared charset, UTF-8 when none is)."""
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return without_surrogates(data.decode(part.get_content_charset() or "utf-8", "replace"))


def _leaves(part: Message) -> list[Message]:
    payload = part.get_payload() if part.get_content_maintype() == "multipart" else None
    if isinstance(payload, list):
        return [leaf for child in payload if isinstance(child, Message) for leaf in _leaves(child)]
    return [part]


def expected_reading(raw: bytes) -> Reading:
    """The standard library's reading of ``raw`` (``policy.default``). Where that raises for a
    header whose encoded words decode to lone surrogates (UTF-7), the gateway's policy reads
    the headers; the bodies and attachments are still the standard library's decoding."""
    try:
        return _reading(message_from_bytes(raw, policy=policy.default))
    except UnicodeError:
        return _reading(message_from_bytes(raw, policy=TOLERANT_POLICY))


def _reading(message: Message) -> Reading:
    text_part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    html_part = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    bodies = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = []
    for leaf in _leaves(message):
        if id(leaf) in bodies:
            continue
        if leaf.get_content_maintype() == "message":
            items = leaf.get_payload()
            data = b"\r\n".join(m.as_bytes(policy=policy.default) for m in items if isinstance(m, Message))
        else:
            payload = leaf.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        attachments.append((leaf.get_content_type(), data))
    return Reading(
        text=_text(text_part) if text_part is not None else None,
        html=_text(html_part) if html_part is not None else None,
        attachments=tuple(attachments),
    )
