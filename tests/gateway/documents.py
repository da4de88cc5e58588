"""Small real documents built in the tests: PDF by hand (text, images, form fields), Office Open XML
with the standard library's zipfile, and mails that carry them."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

from pypdf import PdfReader, PdfWriter


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(*pages: str, image: bool = False, pad_to: int = 0) -> bytes:
    """A valid PDF whose pages show ``pages`` (one line each, Helvetica); ``image`` puts a 1x1
    picture on every page; ``pad_to`` adds an uncompressed comment stream to reach that size."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    font, picture = 3 + 2 * count, 4 + 2 * count
    for text in pages:
        xobject = f" /XObject << /Im1 {picture} 0 R >>" if image else ""
        page = len(objects) + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page + 1} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >>{xobject} >> >>".encode()
        )
        content = f"BT /F1 12 Tf 72 720 Td ({_escape(text)}) Tj ET".encode()
        if image:
            content += b"\nq 10 0 0 10 72 600 cm /Im1 Do Q"
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(
        b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream"
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    if pad_to:
        out += b"%" + b"x" * max(0, pad_to - 400) + b"\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def encrypted_pdf(*pages: str, password: str | None = None) -> bytes:
    """``pages`` encrypted with AES; the user password is ``password`` (a made-up one if not given)."""
    password = "open-sesame-" + "7" if password is None else password
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(*pages))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx(*paragraphs: list[str], media: bool = False, encrypt_flag: bool = False) -> bytes:
    """A Word document; each paragraph is a list of runs (Word splits text into runs freely)."""
    body = "".join(
        "<w:p>" + "".join(f"<w:r><w:t xml:space='preserve'>{run}</w:t></w:r>" for run in runs) + "</w:p>"
        for runs in paragraphs
    )
    files = {
        "[Content_Types].xml": "<?xml version='1.0'?><Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'/>",
        "word/document.xml": f"<?xml version='1.0'?><w:document xmlns:w='{_W}'><w:body>{body}</w:body></w:document>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        if media:
            archive.writestr("word/media/image1.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    data = out.getvalue()
    if encrypt_flag:  # the "encrypted" bit of every header, as a password-protected zip has it
        data = data.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00")
        data = data.replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00")
    return data


def xlsx(*shared_strings: str, numbers: tuple[str, ...] = ()) -> bytes:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings = "".join(f"<si><t>{s}</t></si>" for s in shared_strings)
    cells = "".join(f"<c r='A{i}'><v>{n}</v></c>" for i, n in enumerate(numbers, start=1))
    files = {
        "[Content_Types].xml": "<Types/>",
        "xl/workbook.xml": f"<workbook xmlns='{main}'/>",
        "xl/sharedStrings.xml": f"<sst xmlns='{main}'>{strings}</sst>",
        "xl/worksheets/sheet1.xml": f"<worksheet xmlns='{main}'><sheetData><row>{cells}</row></sheetData></worksheet>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def forwarded(text: str, *, subject: str = "Fwd: a case") -> bytes:
    inner = EmailMessage()
    inner["From"] = "someone@clinic.example"
    inner["To"] = "alice@plan.example"
    inner["Subject"] = subject
    inner.set_content(text)
    return inner.as_bytes()


def mail_with(
    to: str,
    *,
    body: str = "The meeting moved to Thursday at ten.",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    forward: bytes | None = None,
) -> bytes:
    """A mail from the associate with ``attachments`` given as (file name, content type, data)."""
    message = EmailMessage()
    message["From"] = "Alice Associate <alice@plan.example>"
    message["To"] = to
    message["Subject"] = "Documents for the case"
    message["Message-ID"] = f"<{abs(hash((to, body, html, attachments, forward)))}@mail.plan.example>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    if forward is not None:
        from email import message_from_bytes, policy

        message.add_attachment(message_from_bytes(forward, policy=policy.default))
    return message.as_bytes()
