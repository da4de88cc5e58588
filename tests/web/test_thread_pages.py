"""The thread pages: start, read, reply, continue and remove, as a browser without JavaScript does."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account
from tests.conftest import Conversation, Stack, register_from_invitation
from tests.support import WebClient, sent_mail


def test_an_associate_starts_a_thread_from_the_page_and_the_partner_reads_and_replies(
    associate_web: WebClient, new_browser: Any
) -> None:
    sent = associate_web.submit(
        "/threads/new",
        "/threads",
        {"recipients": "ivy@clinic.example", "subject": "Eligibility for member 88", "text": "Line one\nLine two"},
    )
    assert sent.status == 303
    thread_path = sent.header("location")
    page = associate_web.get(thread_path)
    assert "Eligibility for member 88" in page.text and "1 of 12" in page.text and "Not opened yet" in page.text
    partner = new_browser()
    register_from_invitation(partner, "ivy@clinic.example")
    inbox = partner.get("/home")
    assert "Eligibility for member 88" in inbox.text and "1 of 12" in inbox.text and "New" in inbox.text
    read = partner.get(thread_path)
    assert "Line one\nLine two" in read.text
    replied = partner.submit(thread_path, thread_path + "/reply", {"text": "Member 88 is eligible."})
    assert replied.status == 303
    again = associate_web.get(thread_path)
    assert "Member 88 is eligible." in again.text and "2 of 12" in again.text
    assert "Opened by" in again.text


def test_page_errors_are_tied_to_their_fields(associate_web: WebClient) -> None:
    reply = associate_web.submit(
        "/threads/new", "/threads", {"recipients": "not an address", "subject": "s", "text": "t"}
    )
    assert reply.status == 400
    assert 'id="recipients-error"' in reply.text and 'aria-invalid="true"' in reply.text
    empty = associate_web.submit(
        "/threads/new", "/threads", {"recipients": "a@clinic.example", "subject": "", "text": "t"}
    )
    assert empty.status == 400 and 'id="subject-error"' in empty.text


def test_subjects_and_bodies_are_escaped_in_pages(associate_web: WebClient, new_browser: Any) -> None:
    sent = associate_web.submit(
        "/threads/new",
        "/threads",
        {
            "recipients": "xss@clinic.example",
            "subject": "<script>alert(1)</script>",
            "text": "<img src=x onerror=alert(2)>",
        },
    )
    page = associate_web.get(sent.header("location"))
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "<img src=x" not in page.text


def test_a_partner_writes_to_an_associate_from_the_page(conversation: Conversation) -> None:
    form = conversation.partner.get("/threads/new")
    assert "alice@plan.example" in form.text and "plan.example" in form.text
    sent = conversation.partner.submit(
        "/threads/new", "/threads", {"recipients": "alice@plan.example", "subject": "Question", "text": "Hello"}
    )
    assert sent.status == 303
    blocked = conversation.partner.submit(
        "/threads/new", "/threads", {"recipients": "pal@gmail.example", "subject": "Question", "text": "Hello"}
    )
    assert blocked.status == 403 and "strike 1 of 3" in blocked.text


def test_a_full_thread_offers_to_continue_and_the_page_continues_it(conversation: Conversation) -> None:
    for n in range(2, 13):
        web = conversation.partner if n % 2 == 0 else conversation.associate
        web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": f"m{n}"})
    path = f"/threads/{conversation.thread_id}"
    page = conversation.partner.get(path)
    assert "This thread is full" in page.text and "Continue in a new thread" in page.text
    refused = conversation.partner.submit(path, path + "/reply", {"text": "thirteen"})
    assert refused.status == 409 and "limit of 12 messages" in refused.text
    continued = conversation.partner.submit(path, path + "/continue", {"subject": "Next", "text": "go on"})
    assert continued.status == 303
    new_page = conversation.partner.get(continued.header("location"))
    assert "continues" in new_page.text and "1 of 12" in new_page.text


def test_removing_from_view_from_the_page(conversation: Conversation) -> None:
    path = f"/threads/{conversation.thread_id}"
    removed = conversation.partner.submit(path, path + "/remove", {})
    assert removed.status == 303
    assert "Prior authorization" not in conversation.partner.get("/home").text
    assert "Prior authorization" in conversation.associate.get("/home").text


def test_a_thread_page_of_someone_else_is_not_found(
    conversation: Conversation, make_partner: Any, new_browser: Any
) -> None:
    from tests.conftest import PARTNER_PASSWORD

    other = make_partner("zed@lab.example")
    browser = new_browser()
    browser.sign_in(other.username, PARTNER_PASSWORD)
    page = browser.get(f"/threads/{conversation.thread_id}")
    assert page.status == 404 and "Prior authorization" not in page.text


def test_recipients_pasted_from_a_mail_program_start_one_thread_and_name_new_partners(
    associate_web: WebClient, stack: Stack, partner: Account
) -> None:
    pasted = (
        '"Ortiz, Dana" <Dana@Clinic.Example>; Eve Lee <eve@clinic.example>\n'
        f"Someone Else <{partner.email}>, dana@clinic.example"
    )
    sent = associate_web.submit("/threads/new", "/threads", {"recipients": pasted, "subject": "s", "text": "t"})
    assert sent.status == 303, sent.text
    accounts = stack.services().accounts
    (dana,) = accounts.list_by_email("dana@clinic.example")
    (eve,) = accounts.list_by_email("eve@clinic.example")
    assert (dana.display_name, eve.display_name) == ("Ortiz, Dana", "Eve Lee")
    existing = accounts.require(partner.username)
    assert existing.display_name == partner.display_name != "Someone Else"
    (thread,) = associate_web.get("/api/threads").json["threads"]
    shown = associate_web.get(f"/threads/{thread['thread_id']}")
    assert shown.status == 200


def test_a_list_with_bad_entries_names_every_one_and_sends_and_stores_nothing(
    associate_web: WebClient, stack: Stack
) -> None:
    mails_before = len(sent_mail())
    typed = {
        "recipients": "Dana Ortiz <dana@clinic.example>; dana@, bob at clinic",
        "subject": "Eligibility for member 88",
        "text": "Draft body kept",
    }
    reply = associate_web.submit("/threads/new", "/threads", typed)
    assert reply.status == 400
    assert "These addresses are not valid: &#39;dana@&#39;, &#39;bob at clinic&#39;" in reply.text
    assert 'id="recipients-error"' in reply.text
    assert "Eligibility for member 88" in reply.text and "Draft body kept" in reply.text
    assert "Dana Ortiz &lt;dana@clinic.example&gt;; dana@, bob at clinic" in reply.text
    assert stack.services().accounts.list_by_email("dana@clinic.example") == []
    assert associate_web.get("/api/threads").json["threads"] == []
    assert len(sent_mail()) == mails_before


def test_every_problem_of_the_new_thread_form_is_shown_at_once_in_plain_words(associate_web: WebClient) -> None:
    reply = associate_web.submit("/threads/new", "/threads", {"recipients": "dana@", "subject": "", "text": ""})
    assert reply.status == 400
    assert "There are 3 problems" in reply.text
    for field in ("recipients", "subject", "text"):
        assert f'id="{field}-error"' in reply.text and f'href="#{field}"' in reply.text
    assert "Write a subject." in reply.text and "Write a message before sending." in reply.text
    assert "is required" not in reply.text


def test_the_api_refuses_bad_recipients_with_the_field_and_the_whole_list(
    associate_web: WebClient, stack: Stack
) -> None:
    reply = associate_web.post(
        "/api/threads",
        json_body={"recipients": ["dana@clinic.example", "dana@", "bob at clinic"], "subject": "s", "text": "t"},
    )
    assert reply.status == 400
    assert reply.json["field"] == "recipients"
    assert "'dana@', 'bob at clinic'" in reply.json["message"]
    assert stack.services().accounts.list_by_email("dana@clinic.example") == []
    several = associate_web.post("/api/threads", json_body={"recipients": "dana@", "subject": "", "text": "t"})
    assert several.status == 400 and several.json["field"] == "recipients"
    assert [p["field"] for p in several.json["problems"]] == ["recipients", "subject"]


def test_the_api_accepts_display_names_with_addresses(associate_web: WebClient, stack: Stack) -> None:
    reply = associate_web.post(
        "/api/threads", json_body={"recipients": ["Dana Ortiz <dana@clinic.example>"], "subject": "s", "text": "t"}
    )
    assert reply.status == 201, reply.text
    (dana,) = stack.services().accounts.list_by_email("dana@clinic.example")
    assert dana.display_name == "Dana Ortiz"
