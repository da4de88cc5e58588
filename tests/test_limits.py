"""One set of limits and one file-name rule, whichever way a message comes in."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.gateway import mime_intake
from chalicelib.limits import MAX_FILENAME, MAX_SUBJECT, clean_content_type, clean_filename
from chalicelib.mail.secure_mail import secure_subject
from chalicelib.messaging import drafts

NAMES = [
    "report.pdf",
    "../../etc/passwd",
    "C:\\Users\\bob\\evil.exe",
    "CON.txt",
    "a<b>c:d|e?f*g.txt",
    "lab\u0007\nresults.pdf",
    "ｆｕｌｌ.txt",
    "\u202eevil\u202cfdp.exe",
    "x" * 300 + ".pdf",
]


@pytest.mark.parametrize("raw", NAMES)
def test_the_portal_and_the_mail_gateway_name_a_file_the_same_way(raw: str) -> None:
    assert drafts.attachment_filename(raw) == mime_intake.attachment_filename(raw) == clean_filename(raw)


def test_a_long_name_is_cut_to_the_limit_and_keeps_its_extension() -> None:
    name = clean_filename("x" * 300 + ".pdf")
    assert len(name) == MAX_FILENAME and name.endswith(".pdf")
    assert len(clean_filename("y" * 300)) == MAX_FILENAME


def test_a_name_with_nothing_usable_is_refused_in_the_portal_and_named_by_the_gateway() -> None:
    assert clean_filename("../..") == clean_filename(None) == ""
    with pytest.raises(InvalidRequest, match="file name is not usable"):
        drafts.attachment_filename("../..")
    assert mime_intake.attachment_filename("../..", "application/pdf", 2) == "attachment-2.pdf"


def test_content_types_are_lower_case_type_and_subtype_or_octet_stream() -> None:
    assert clean_content_type(" Application/PDF ") == "application/pdf"
    for odd in ("pdf", "text/plain; charset=utf-8", "", None, 5, "a/" + "b" * 200):
        assert clean_content_type(odd) == "application/octet-stream"


def test_one_subject_limit_for_the_portal_the_gateway_and_outgoing_mail() -> None:
    with pytest.raises(InvalidRequest, match=f"at most {MAX_SUBJECT:,} characters"):
        drafts.parse_draft("s" * (MAX_SUBJECT + 1), "text")
    assert len(drafts.parse_draft("s" * MAX_SUBJECT, "text").subject) == MAX_SUBJECT
    raw = b"From: a@plan.example\r\nTo: b@clinic.example\r\nSubject: " + b"s" * 300 + b"\r\n\r\nbody\r\n"
    assert len(mime_intake.parse_mail(raw).subject) == MAX_SUBJECT
    assert secure_subject("s" * 300) == "[Secure] " + "s" * MAX_SUBJECT
