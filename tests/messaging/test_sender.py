"""Sending through the JSON API: R2 (12 interactions, continuing a full thread, credential scopes),
and a send that KMS, S3 or the audit trail cannot complete stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Conversation, register_from_invitation
from tests.support import (
    WebClient,
    mail_text,
    sent_mail,
)

# --- R2: twelve interactions, and the linked new thread ------------------------------------


def fill(conversation: Conversation, until: int = 12) -> None:
    for n in range(2, until + 1):
        web = conversation.partner if n % 2 == 0 else conversation.associate
        reply = web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": f"message {n}"})
        assert reply.status == 201, (n, reply.text)
        assert reply.json["thread"]["interactions_label"] == f"{n} of 12"


def test_the_inbox_shows_n_of_twelve(conversation: Conversation) -> None:
    (item,) = conversation.partner.get("/api/threads").json["threads"]
    assert item["interactions_label"] == "1 of 12" and item["unread"] is True
    conversation.thread()
    (item,) = conversation.partner.get("/api/threads").json["threads"]
    assert item["unread"] is False


def test_the_thirteenth_interaction_is_refused_with_a_clear_message(conversation: Conversation, stack: Any) -> None:
    fill(conversation)
    for web in (conversation.partner, conversation.associate):
        refused = web.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "one more"})
        assert refused.status == 409
        assert refused.json["error"] == "thread_full"
        assert "limit of 12 messages" in refused.json["message"] and "new thread" in refused.json["message"]
    assert len(conversation.thread()["messages"]) == 12


@pytest.mark.parametrize("who", ["partner", "associate"])
def test_a_full_thread_continues_in_a_new_linked_thread(conversation: Conversation, who: str) -> None:
    web = getattr(conversation, who)
    early = web.post(f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "x", "text": "y"})
    assert early.status == 409
    fill(conversation)
    continued = web.post(
        f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "Continued", "text": "go on"}
    )
    assert continued.status == 201, continued.text
    new_id = continued.json["thread"]["thread_id"]
    assert continued.json["thread"]["predecessor_id"] == conversation.thread_id
    assert conversation.thread()["successor_id"] == new_id
    other = conversation.associate if who == "partner" else conversation.partner
    linked = other.get(f"/api/threads/{new_id}").json
    assert linked["interactions_label"] == "1 of 12" and linked["predecessor_id"] == conversation.thread_id
    again = web.post(f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "x", "text": "y"})
    assert again.status == 409


def test_concurrent_last_places_cannot_pass_twelve(conversation: Conversation, stack: Any, monkeypatch: Any) -> None:
    fill(conversation, until=11)
    # Two senders read the thread at 11; both try to write message 12.
    from chalicelib.messaging.sender import MessageSender

    real = MessageSender._previous_message
    calls: list[int] = []

    def slow_previous(self: MessageSender, thread: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            other = conversation.associate.post(
                f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "racing"}
            )
            assert other.status == 201
        return real(self, thread)

    monkeypatch.setattr(MessageSender, "_previous_message", slow_previous)
    late = conversation.partner.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "late"})
    assert late.status == 409
    assert late.json["error"] == "thread_full"
    assert len(conversation.thread()["messages"]) == 12


# --- credential scopes ---------------------------------------------------------------------


def test_recipient_scope_registers_once_and_shows_every_thread(
    associate_web: WebClient, new_browser: Any, start_thread: Any
) -> None:
    first = start_thread(["fay@clinic.example"], subject="First")
    partner = new_browser()
    register_from_invitation(partner, "fay@clinic.example")
    second = start_thread(["fay@clinic.example"], subject="Second")
    assert first["invited"] and second["invited"] == []  # the second thread reuses the account
    subjects = {t["subject"] for t in partner.get("/api/threads").json["threads"]}
    assert subjects == {"First", "Second"}
    notice = sent_mail()[-1]
    assert "new secure message" in str(notice["Subject"]) and "/p/" in mail_text(notice)


def test_thread_scope_gives_a_user_name_and_password_per_thread(
    associate_web: WebClient, new_browser: Any, start_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    first = start_thread(["gus@clinic.example"], subject="Thread one")
    one = new_browser()
    user_one = register_from_invitation(one, "gus@clinic.example")
    second = start_thread(["gus@clinic.example"], subject="Thread two")
    two = new_browser()
    user_two = register_from_invitation(two, "gus@clinic.example", "another partner passphrase")
    assert user_one != user_two
    assert [t["subject"] for t in one.get("/api/threads").json["threads"]] == ["Thread one"]
    assert [t["subject"] for t in two.get("/api/threads").json["threads"]] == ["Thread two"]
    assert one.get(f"/api/threads/{second['thread']['thread_id']}").status == 404
    assert two.get(f"/api/threads/{first['thread']['thread_id']}").status == 404
    # Each account signs in with its own password to its own thread.
    again = new_browser()
    assert again.sign_in(user_two, "another partner passphrase").status == 200
    assert [t["subject"] for t in again.get("/api/threads").json["threads"]] == ["Thread two"]
    assert one.post(f"/api/threads/{first['thread']['thread_id']}/messages", json_body={"text": "ok"}).status == 201


def test_thread_scope_continuation_invites_the_partner_to_a_new_account(
    associate_web: WebClient, new_browser: Any, start_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    sent = start_thread(["hal@clinic.example"])
    partner = new_browser()
    first_user = register_from_invitation(partner, "hal@clinic.example")
    conversation = Conversation(associate_web, partner, first_user, sent["thread"]["thread_id"], sent["message_id"])
    fill(conversation)
    continued = associate_web.post(
        f"/api/threads/{conversation.thread_id}/continuation", json_body={"subject": "Part two", "text": "more"}
    )
    assert continued.status == 201
    (new_user,) = continued.json["invited"]
    assert new_user != first_user
    successor = new_browser()
    assert register_from_invitation(successor, "hal@clinic.example", "a third partner passphrase") == new_user
    assert [t["subject"] for t in successor.get("/api/threads").json["threads"]] == ["Part two"]


# --- faults: KMS, S3 and the audit trail -------------------------------------------------------
