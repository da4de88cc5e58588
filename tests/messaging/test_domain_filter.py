"""R8: partners reply and write to the associates they know; R5: only to the plan's domains,
with strikes, notices and termination."""

from __future__ import annotations

from typing import Any

from tests.conftest import PARTNER_PASSWORD, Conversation
from tests.support import (
    audit_events,
    mail_text,
    sent_mail,
)

SECRET_SUBJECT = "Oncology referral for Maria Gonzalez"
SECRET_BODY = "Biopsy confirmed stage II; MRN 004471; call her at home."


# --- R8: partners reply and write to their associates; R5: only to the plan -----------------


def test_a_partner_starts_a_new_message_to_an_associate_they_know(conversation: Conversation) -> None:
    new = conversation.partner.post(
        "/api/threads", json_body={"recipients": ["alice@plan.example"], "subject": "New topic", "text": "Hi"}
    )
    assert new.status == 201
    thread_id = new.json["thread"]["thread_id"]
    assert conversation.associate.get(f"/api/threads/{thread_id}").json["subject"] == "New topic"
    # The associate receives the message itself in their own mailbox, over enforced TLS.
    mail = sent_mail()[-1]
    assert mail["To"].addresses[0].addr_spec == "alice@plan.example"
    assert str(mail["Subject"]) == "[Secure] New topic" and mail_text(mail).strip() == "Hi"
    assert "via" in str(mail["From"]) and mail["Reply-To"].addresses[0].addr_spec.startswith("secure-gateway@")


def test_a_partner_cannot_write_to_an_associate_they_do_not_know(conversation: Conversation, stack: Any) -> None:
    from devtools.seed import seed_associate

    seed_associate(stack.services(), "stranger@plan.example", "an associate passphrase here", "Stranger")
    reply = conversation.partner.post(
        "/api/threads", json_body={"recipients": ["stranger@plan.example"], "subject": "Hi", "text": "Hello"}
    )
    assert reply.status == 403 and reply.json["error"] == "recipient_not_allowed"
    assert stack.services().accounts.get(conversation.partner_username).strikes == 0


def test_an_outside_recipient_is_blocked_audited_counted_and_reported(conversation: Conversation, stack: Any) -> None:
    mails_before = len(sent_mail())
    threads_before = len(conversation.partner.get("/api/threads").json["threads"])
    reply = conversation.partner.post(
        "/api/threads",
        json_body={"recipients": ["friend@gmail.example"], "subject": SECRET_SUBJECT, "text": SECRET_BODY},
    )
    assert reply.status == 403
    assert reply.json["error"] == "recipient_not_allowed"
    assert "plan.example" in reply.json["message"] and "strike 1 of 3" in reply.json["message"]
    assert len(conversation.partner.get("/api/threads").json["threads"]) == threads_before
    blocked = audit_events(stack, "filter.blocked")
    assert blocked[-1]["account"] == conversation.partner_username
    assert blocked[-1]["detail"] == {"blocked_count": "1", "blocked_domains": "gmail.example"}
    assert audit_events(stack, "filter.strike")[-1]["detail"]["strikes"] == "1"
    new_mail = sent_mail()[mails_before:]
    assert [m["To"].addresses[0].addr_spec for m in new_mail] == ["alice@plan.example"]
    assert "strike 1" in str(new_mail[0]["Subject"])
    assert SECRET_SUBJECT not in new_mail[0].as_string()


def test_the_third_strike_terminates_the_partner_account(
    conversation: Conversation, stack: Any, new_browser: Any
) -> None:
    for strike in (1, 2, 3):
        reply = conversation.partner.post(
            "/api/threads", json_body={"recipients": ["x@elsewhere.example"], "subject": "s", "text": "t"}
        )
        assert reply.status == 403, strike
    assert "terminated" in reply.json["message"]
    account = stack.services().accounts.get(conversation.partner_username)
    assert str(account.status) == "terminated"
    assert conversation.partner.get("/api/threads").status == 401
    assert new_browser().sign_in(conversation.partner_username, PARTNER_PASSWORD).json["error"] == "account_closed"
    assert audit_events(stack, "account.terminated")[-1]["reason"] == "domain_filter_strikes"


def test_mixed_recipients_are_refused_whole(conversation: Conversation) -> None:
    reply = conversation.partner.post(
        "/api/threads",
        json_body={"recipients": ["alice@plan.example", "x@elsewhere.example"], "subject": "s", "text": "t"},
    )
    assert reply.status == 403
    assert len(conversation.associate.get("/api/threads").json["threads"]) == 1
