"""Message input is checked before anything is encrypted."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.limits import MAX_SUBJECT
from chalicelib.messaging.drafts import attachment_filename, parse_attachments, parse_draft, parse_recipients


def test_subject_lines_are_single_clean_lines() -> None:
    assert parse_draft("  Claim\r\n 4471\tstatus ", "t").subject == "Claim 4471 status"


@pytest.mark.parametrize(
    ("subject", "text", "html", "field"),
    [
        ("", "t", None, "subject"),
        ("s", "", None, "text"),
        ("x" * (MAX_SUBJECT + 1), "t", None, "subject"),
        ("s", 5, None, "text"),
        ("s", "a\x00b", None, "text"),
    ],
)
def test_bad_drafts_name_the_field(subject: object, text: object, html: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_draft(subject, text, html)
    assert refused.value.field == field


def test_an_html_body_may_stand_without_text() -> None:
    draft = parse_draft("s", "", "<p>hi</p>")
    assert draft.html == "<p>hi</p>" and draft.text == ""


def test_file_names_lose_paths_and_control_characters() -> None:
    assert attachment_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert attachment_filename("../../etc/passwd") == "passwd"
    assert attachment_filename("lab\u0007\nresults.pdf") == "lab results.pdf"
    with pytest.raises(InvalidRequest):
        attachment_filename("../..")


def test_unknown_content_types_become_octet_stream() -> None:
    (attachment,) = parse_attachments([{"upload_id": "u", "filename": "a", "content_type": "text/html; evil"}])
    assert attachment.content_type == "application/octet-stream"


def test_recipients_are_validated_lowercased_and_deduplicated() -> None:
    assert parse_recipients("A@x.example, a@x.example; b@y.example") == ["a@x.example", "b@y.example"]
    for bad in ([], "", ["not-an-address"], ["a@x.example"] * 0, 5):
        with pytest.raises(InvalidRequest):
            parse_recipients(bad)
