"""Message input is checked before anything is encrypted."""

from __future__ import annotations

import pytest

from chalicelib.addresses import Recipient
from chalicelib.errors import InvalidRequest, ManyProblems
from chalicelib.limits import MAX_SUBJECT
from chalicelib.messaging.drafts import (
    attachment_filename,
    parse_attachments,
    parse_draft,
    parse_new_thread,
    parse_recipient_entries,
    parse_recipients,
)


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


def test_a_recipient_list_with_bad_entries_is_refused_naming_each_of_them() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_recipient_entries("Dana Ortiz <dana@clinic.example>; dana@, bob at clinic")
    assert refused.value.field == "recipients"
    assert refused.value.public_message.startswith("These addresses are not valid: 'dana@', 'bob at clinic'")


def test_a_json_list_of_recipients_may_hold_display_names() -> None:
    assert parse_recipient_entries(["Dana Ortiz <dana@clinic.example>", "bob@clinic.example"]) == [
        Recipient("dana@clinic.example", "Dana Ortiz"),
        Recipient("bob@clinic.example", ""),
    ]


def test_missing_parts_of_a_message_are_asked_for_in_plain_words() -> None:
    with pytest.raises(InvalidRequest, match=r"^Write a message before sending\.$"):
        parse_draft("s", "  ")
    with pytest.raises(InvalidRequest, match=r"^Write a subject\.$"):
        parse_draft("", "t")


def test_every_problem_of_a_new_thread_is_raised_at_once() -> None:
    with pytest.raises(ManyProblems) as refused:
        parse_new_thread("", "", None, None, "dana@")
    problems = refused.value.problems
    assert [p.field for p in problems] == ["recipients", "subject", "text"]
    assert [p.public_message for p in problems][1:] == ["Write a subject.", "Write a message before sending."]
    assert "'dana@'" in problems[0].public_message


def test_a_new_thread_with_one_problem_raises_just_that_problem() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_new_thread("s", "t", None, None, "")
    assert not isinstance(refused.value, ManyProblems)
    assert refused.value.public_message == "Name at least one recipient."
    draft, recipients = parse_new_thread("s", "t", None, None, "Dana Ortiz <dana@clinic.example>")
    assert draft.subject == "s" and recipients == [Recipient("dana@clinic.example", "Dana Ortiz")]
