"""The text inside attachments, for the sensitive-data scan; what cannot be read is named by kind.

``read_attachment`` sorts one attachment by its bytes first (magic numbers), then by its
declared type and file name, and returns the text and HTML to scan plus the parts it could
not read, counted by ``UnreadableKind``:

- PDF: text of every page and of the form fields (pypdf, lower limits than its own); a PDF
  that is encrypted (other than with the empty password), broken, over the size or page cap,
  or that holds images or embedded files counts as unreadable.
- Office Open XML (docx, xlsx, pptx): the text elements of the document, sheet and slide
  parts, read from the zip with the standard library under caps (compressed size, number of
  members, decompressed bytes, text length); a DOCTYPE or entity declaration is refused
  (no entity expansion); embedded images and objects count as unreadable.
- Forwarded messages (``message/rfc822``, ``.eml``): always counted, and their text parts and
  attachments read the same way, so a finding inside is still reported by its kind.
- Text (``text/*`` or bytes that are plainly text): scanned; ASCII-armoured PGP or PKCS #7 in it
  counts as encrypted or S/MIME.
- Everything else (images, archives, TNEF ``winmail.dat``, S/MIME enveloped or opaque-signed
  data, legacy binary Office files, encrypted files, unknown types): unreadable. Detached
  signatures (``application/pkcs7-signature``) hold no content and count as nothing.

Caps apply per file and, through one ``Budget``, per mail (bytes, pages, seconds), so a mail
of many large documents cannot use up the function's memory or time: past a cap a file is
unreadable, never half-read. Nothing here logs or raises with content or file names.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from enum import StrEnum
from typing import Any
from xml.parsers import expat

MB = 1024 * 1024


class UnreadableKind(StrEnum):
    PDF = "unreadable_pdf"
    OFFICE = "unreadable_office"
    IMAGE = "unreadable_image"
    ARCHIVE = "unreadable_archive"
    TNEF = "unreadable_tnef"
    ATTACHMENT = "unreadable_attachment"
    ENCRYPTED = "encrypted_file"
    FORWARDED = "forwarded_message"
    HTML_COMMENT = "html_comment"
    SMIME = "smime_opaque"


@dataclass(frozen=True)
class Caps:
    """Per-file and per-mail limits (see the README's note on the router's memory)."""

    pdf_bytes: int = 10 * MB
    pdf_pages: int = 200
    office_bytes: int = 10 * MB
    office_members: int = 2000
    office_xml_bytes: int = 50 * MB  # decompressed, all text parts of one file together
    text_chars: int = 5_000_000  # extracted from one file
    mail_bytes: int = 30 * MB  # documents read in one mail
    mail_pages: int = 500
    mail_seconds: float = 30.0
    forward_depth: int = 3


@dataclass
class Budget:
    """What one mail may still spend on reading documents."""

    caps: Caps = field(default_factory=Caps)
    bytes_left: int = 0
    pages_left: int = 0
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.bytes_left = self.bytes_left or self.caps.mail_bytes
        self.pages_left = self.pages_left or self.caps.mail_pages
        self.deadline = self.deadline or time.monotonic() + self.caps.mail_seconds

    def take_bytes(self, size: int) -> bool:
        if size > self.bytes_left or time.monotonic() > self.deadline:
            return False
        self.bytes_left -= size
        return True

    def take_page(self) -> bool:
        if self.pages_left <= 0 or time.monotonic() > self.deadline:
            return False
        self.pages_left -= 1
        return True


@dataclass
class Extracted:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    unreadable: Counter[UnreadableKind] = field(default_factory=Counter)

    def add(self, other: Extracted) -> None:
        self.texts += other.texts
        self.htmls += other.htmls
        self.unreadable.update(other.unreadable)


class _Unreadable(Exception):
    """Internal: this file cannot be read (the kind says how it is reported)."""

    def __init__(self, kind: UnreadableKind) -> None:
        super().__init__(str(kind))
        self.kind = kind


def _unreadable(kind: UnreadableKind) -> Extracted:
    return Extracted(unreadable=Counter({kind: 1}))


# --- sorting by type --------------------------------------------------------------------------

_SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})
_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_FORWARD_TYPES = frozenset({"message/rfc822", "message/global"})
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*", b"BM")
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")
_ARCHIVE_WORDS = ("zip", "compress", "tar", "rar", "7z", "gzip", "bzip", "xz", "zstd", "archive")
_OFFICE_WORDS = ("msword", "ms-excel", "ms-powerpoint", "officedocument", "opendocument", "ms-office", "ms-works")
_OFFICE_EXTENSIONS = frozenset(
    ("doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pptm", "odt", "ods", "odp")
)
_ARCHIVE_EXTENSIONS = frozenset(("zip", "gz", "tgz", "7z", "rar", "tar", "bz2", "xz", "zst", "cab"))
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ARMOUR = re.compile(rb"-----BEGIN (PGP MESSAGE|PKCS7|ENCRYPTED)")


def _extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def read_attachment(data: bytes, content_type: str, filename: str, budget: Budget, depth: int = 0) -> Extracted:
    """The text and HTML in one attachment, or the kind under which it counts as unreadable."""
    try:
        return _read(data, content_type.lower(), filename.lower(), budget, depth)
    except _Unreadable as unreadable:
        return _unreadable(unreadable.kind)


def _read(data: bytes, ctype: str, name: str, budget: Budget, depth: int) -> Extracted:
    head, ext = data[:1024], _extension(name)
    if ctype in _SIGNATURE_TYPES or ext == "p7s":
        return Extracted()  # a detached signature: the signed content is its own part
    if ctype in _SMIME_TYPES or ext in ("p7m", "p7z"):
        raise _Unreadable(UnreadableKind.SMIME)
    if ctype in _FORWARD_TYPES or ext in ("eml", "msg"):
        return _forwarded(data, budget, depth)
    if ctype in _TNEF_TYPES or name == "winmail.dat" or head.startswith(b"\x78\x9f\x3e\x22"):
        raise _Unreadable(UnreadableKind.TNEF)
    if not data:
        return Extracted()
    if b"%PDF-" in head or ctype == "application/pdf" or ext == "pdf":
        return _pdf(data, budget)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip(data, budget)
    if head.startswith(_OLE):
        encrypted = "EncryptedPackage".encode("utf-16-le") in data
        raise _Unreadable(UnreadableKind.ENCRYPTED if encrypted else UnreadableKind.OFFICE)
    if ctype.startswith("image/") or head.startswith(_IMAGE_MAGIC) or head[8:12] in (b"WEBP", b"heic", b"avif"):
        raise _Unreadable(UnreadableKind.IMAGE)
    if head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar" or ext in _ARCHIVE_EXTENSIONS:
        raise _Unreadable(UnreadableKind.ARCHIVE)
    text = _as_text(data, declared_text=ctype.startswith(("text/", "message/")))
    if text is not None:
        if _ARMOUR.search(data):
            raise _Unreadable(UnreadableKind.ENCRYPTED)
        return Extracted(htmls=[text]) if ctype == "text/html" else Extracted(texts=[text])
    if any(word in ctype for word in _ARCHIVE_WORDS):
        raise _Unreadable(UnreadableKind.ARCHIVE)
    if any(word in ctype for word in _OFFICE_WORDS) or ext in _OFFICE_EXTENSIONS:
        raise _Unreadable(UnreadableKind.OFFICE)
    raise _Unreadable(UnreadableKind.ATTACHMENT)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _as_text(data: bytes, *, declared_text: bool) -> str | None:
    """``data`` as text if it plainly is text (UTF-8 or UTF-16 with a BOM; any 8-bit text if declared)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data:
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            if not declared_text:
                return None
            text = data.decode("cp1252", errors="replace")
    sample = text[:8192]
    return None if len(_CONTROL.findall(sample)) * 100 > len(sample) else text


# --- forwarded messages -------------------------------------------------------------------------


def _forwarded(data: bytes, budget: Budget, depth: int) -> Extracted:
    """Always counted; what can be read inside is read, so its findings keep their kinds."""
    found = _unreadable(UnreadableKind.FORWARDED)
    if data.startswith(_OLE) or depth >= budget.caps.forward_depth or not budget.take_bytes(len(data)):
        return found
    try:
        inner = BytesParser(policy=default_policy).parsebytes(data)
        for part in inner.walk():
            if part.is_multipart():
                continue
            found.add(_inner_part(part, budget, depth))
    except Exception:  # a damaged inner message: it is counted already
        return found
    return found


def _inner_part(part: Message, budget: Budget, depth: int) -> Extracted:
    ctype = part.get_content_type()
    if ctype in ("text/plain", "text/html") and part.get_content_disposition() != "attachment":
        assert isinstance(part, EmailMessage)
        text = str(part.get_content())
        return Extracted(htmls=[text]) if ctype == "text/html" else Extracted(texts=[text])
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    extracted = read_attachment(data, ctype, part.get_filename() or "", budget, depth + 1)
    extracted.texts.append((part.get_filename() or "").replace("_", " "))
    return extracted


# --- PDF ----------------------------------------------------------------------------------------

# pypdf's own limits are sized for desktop use (75 MB a stream, 2 million operands a page); a mail
# function needs far less. A page of dense text is a few thousand operands: a page past these is
# unreadable (measured: 200 pages of 4.9 MB inflated content took 600 s at pypdf's defaults).
_PDF_LIMITS: dict[str, Any] = {
    "maximum_declared_stream_length": 5 * MB,
    "array_based_stream_maximum_output_length": 5 * MB,
    "zlib_maximum_output_length": 5 * MB,
    "lzw_maximum_output_length": 5 * MB,
    "run_length_maximum_output_length": 5 * MB,
    "brotli_maximum_output_length": 5 * MB,
    "jbig2_maximum_output_length": 5 * MB,
    "image_maximum_buffer_size": 5 * MB,
    "stream_decoding_work_maximum_length": 20 * MB,
    "stream_parsing_work_maximum_count": 200_000,
    "xform_maximum_invocations_per_extraction": 500,
    "xfa_decoding_work_maximum_length": 5 * MB,
    "jbig2dec_binary": None,  # never start an external program
    "disable_legacy_handling": True,
}


def _pdf(data: bytes, budget: Budget) -> Extracted:
    caps = budget.caps
    if len(data) > caps.pdf_bytes or not budget.take_bytes(len(data)):
        raise _Unreadable(UnreadableKind.PDF)
    import pypdf  # imported on first use: most mail holds no PDF

    # pypdf logs the structure of damaged files at WARNING; nothing of a file goes to the logs.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    try:
        with pypdf.apply_configuration(**_PDF_LIMITS):
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
                raise _Unreadable(UnreadableKind.ENCRYPTED)
            return _pdf_text(reader, budget)
    except _Unreadable:
        raise
    except Exception:  # pypdf raises many kinds (and some bugs) on damaged or hostile files
        raise _Unreadable(UnreadableKind.PDF) from None


def _pdf_text(reader: Any, budget: Budget) -> Extracted:
    caps = budget.caps
    if len(reader.pages) > caps.pdf_pages:
        raise _Unreadable(UnreadableKind.PDF)
    found = Extracted()
    chars = 0
    for page in reader.pages:
        if not budget.take_page():
            raise _Unreadable(UnreadableKind.PDF)
        text = page.extract_text() or ""
        chars += len(text)
        if chars > caps.text_chars:
            raise _Unreadable(UnreadableKind.PDF)
        found.texts.append(text)
        if len(page.images):  # a scan or a picture: its text cannot be read
            found.unreadable[UnreadableKind.IMAGE] += 1
    found.texts += [str(value) for value in (reader.get_form_text_fields() or {}).values() if value]
    # Files embedded in the PDF: counted, never opened (their names are not read either).
    attached = 0
    for _ in reader.attachment_list:
        attached += 1
        if attached >= 100:
            break
    found.unreadable[UnreadableKind.ATTACHMENT] += attached
    found.unreadable = +found.unreadable
    return found


# --- zip: Office Open XML, or an archive ---------------------------------------------------------

_OOXML_TEXT_PART = re.compile(
    r"(?:word/(?:document|header\d*|footer\d*|footnotes|endnotes|comments\w*)"
    r"|xl/(?:sharedStrings|worksheets/sheet\d+|comments\d*)"
    r"|ppt/(?:slides/slide\d+|notesSlides/notesSlide\d+|comments/comment\d+)"
    r"|docProps/core)\.xml"
)
_OOXML_MAIN_PARTS = frozenset({"word/document.xml", "xl/workbook.xml", "ppt/presentation.xml"})
_OOXML_MEDIA = re.compile(r"(?:word|xl|ppt)/media/.+")
_OOXML_EMBEDDED = re.compile(r"(?:word|xl|ppt)/embeddings/.+")
_TEXT_TAGS = frozenset({"t", "v", "delText", "instrText", "title", "subject", "creator", "description", "keywords"})
_BREAKS = {"p": "\n", "br": "\n", "cr": "\n", "tab": "\t", "tc": "\t", "tr": "\n", "c": "\t", "row": "\n", "si": "\n"}


def _zip(data: bytes, budget: Budget) -> Extracted:
    caps = budget.caps
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception:
        raise _Unreadable(UnreadableKind.ARCHIVE) from None
    if any(member.flag_bits & 0x1 for member in members):
        raise _Unreadable(UnreadableKind.ENCRYPTED)
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names or not names & _OOXML_MAIN_PARTS:
        raise _Unreadable(UnreadableKind.ARCHIVE)
    parts = [m for m in members if _OOXML_TEXT_PART.fullmatch(m.filename)]
    too_big = len(data) > caps.office_bytes or len(members) > caps.office_members
    if too_big or sum(m.file_size for m in parts) > caps.office_xml_bytes or not budget.take_bytes(len(data)):
        raise _Unreadable(UnreadableKind.OFFICE)
    found = Extracted()
    reader = _XmlText(caps.text_chars)
    try:
        for member in parts:
            with archive.open(member) as stream:  # reads at most the member's declared size
                found.texts.append(reader.read(stream))
    except _Unreadable:
        raise
    except Exception:  # damaged zip or XML, a bad CRC, a refused DOCTYPE
        raise _Unreadable(UnreadableKind.OFFICE) from None
    found.unreadable[UnreadableKind.IMAGE] += sum(1 for name in names if _OOXML_MEDIA.fullmatch(name))
    found.unreadable[UnreadableKind.ATTACHMENT] += sum(1 for name in names if _OOXML_EMBEDDED.fullmatch(name))
    found.unreadable = +found.unreadable  # (only kinds that occur)
    return found


@dataclass
class _XmlText:
    """The text elements of Office XML parts, streamed through expat (no tree, no entities)."""

    limit: int
    chars: int = 0
    _pieces: list[str] = field(default_factory=list)
    _inside: int = 0

    def read(self, stream: Any) -> str:
        self._pieces, self._inside = [], 0
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._data
        while chunk := stream.read(64 * 1024):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
        return "".join(self._pieces)

    def _refuse(self, *_: Any) -> None:
        raise ValueError("declarations are not allowed")

    def _start(self, name: str, _attrs: Any) -> None:
        if name.rpartition(" ")[2] in _TEXT_TAGS:
            self._inside += 1

    def _end(self, name: str) -> None:
        local = name.rpartition(" ")[2]
        if local in _TEXT_TAGS:
            self._inside -= 1
        elif local in _BREAKS:
            self._pieces.append(_BREAKS[local])

    def _data(self, data: str) -> None:
        if self._inside > 0:
            self.chars += len(data)
            if self.chars > self.limit:
                raise _Unreadable(UnreadableKind.OFFICE)
            self._pieces.append(data)
