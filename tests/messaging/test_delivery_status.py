"""Where each recipient stands: replied beats opened, opened beats how the message was delivered."""

from __future__ import annotations

from chalicelib.messaging.delivery_status import RecipientState, latest_statuses, status_of
from chalicelib.messaging.model import Delivery, DeliveryState, MessageRecord, StoredObject

THREAD = "t" * 32


def message(seq: int, sender: str, opened_by: dict[str, str] | None = None) -> MessageRecord:
    return MessageRecord(
        thread_id=THREAD,
        message_id=f"m{seq}",
        seq=seq,
        sender=sender,
        sender_role="associate" if sender == "alice" else "partner",
        created_at=f"2026-03-0{seq}T10:00:00Z",
        content=StoredObject("k", "h", 1),
        opened_by=opened_by or {},
    )


def delivery(seq: int, username: str, state: DeliveryState, reason: str = "") -> Delivery:
    return Delivery(THREAD, seq, username, state, f"2026-03-0{seq}T10:00:01Z", reason)


def test_each_delivery_state_shows_until_the_message_is_opened() -> None:
    first = message(1, "alice")
    for state, expected in (
        (DeliveryState.PICKUP_NOTIFIED, RecipientState.AWAITING_PICKUP),
        (DeliveryState.SENT_TLS, RecipientState.SENT_TLS),
        (DeliveryState.BOUNCED, RecipientState.BOUNCED),
        (DeliveryState.NOTIFICATION_FAILED, RecipientState.NOTIFICATION_FAILED),
        (DeliveryState.PORTAL, RecipientState.IN_PORTAL),
    ):
        status = status_of("bob", first, [first], [delivery(1, "bob", state, "why")])
        assert (status.state, status.reason, status.at) == (expected, "why", "2026-03-01T10:00:01Z")


def test_opened_beats_the_delivery_and_a_later_message_of_theirs_beats_opened() -> None:
    first = message(1, "alice", {"bob": "2026-03-01T11:00:00Z"})
    deliveries = [delivery(1, "bob", DeliveryState.PICKUP_NOTIFIED)]
    opened = status_of("bob", first, [first], deliveries)
    assert (opened.state, opened.at, opened.label) == (RecipientState.OPENED, "2026-03-01T11:00:00Z", "Opened")
    answer = message(2, "bob")
    replied = status_of("bob", first, [first, answer], deliveries)
    assert (replied.state, replied.at, replied.tone) == (RecipientState.REPLIED, answer.created_at, "good")


def test_the_latest_status_is_about_the_newest_message_someone_else_sent() -> None:
    messages = [
        message(1, "alice", {"bob": "2026-03-01T11:00:00Z", "carol": "2026-03-01T12:00:00Z"}),
        message(2, "bob", {"alice": "2026-03-02T11:00:00Z"}),
        message(3, "alice"),
    ]
    deliveries = [
        delivery(3, "bob", DeliveryState.BOUNCED, "tls_required_send_bounced"),
        delivery(3, "carol", DeliveryState.SENT_TLS),
    ]
    statuses = {s.username: s for s in latest_statuses(["alice", "bob", "carol", "dan"], messages, deliveries)}
    assert statuses["bob"].state is RecipientState.BOUNCED and statuses["bob"].seq == 3
    assert statuses["carol"].state is RecipientState.SENT_TLS
    assert statuses["alice"].state is RecipientState.REPLIED and statuses["alice"].seq == 2
    assert statuses["dan"].state is RecipientState.NOT_RECORDED


def test_someone_who_only_wrote_has_no_status() -> None:
    assert latest_statuses(["alice"], [message(1, "alice")], []) == []
