"""Where each recipient of a thread stands, as associates see it: sent over TLS, awaiting pickup,
opened, replied, bounced.

Worked out from what is already stored: the delivery records per message and recipient
(written when a message is sent, by the gateway for TLS sends and bounces), who opened each
message in the portal, and who wrote later in the thread. The newest fact wins: a reply beats
"opened", which beats how the message was delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.messaging.model import Delivery, DeliveryState, MessageRecord


class RecipientState(StrEnum):
    REPLIED = "replied"
    OPENED = "opened"
    SENT_TLS = "sent_tls"
    AWAITING_PICKUP = "awaiting_pickup"
    IN_PORTAL = "in_portal"
    BOUNCED = "bounced"
    NOTIFICATION_FAILED = "notification_failed"
    NOT_RECORDED = "not_recorded"


LABELS = {
    RecipientState.REPLIED: "Replied",
    RecipientState.OPENED: "Opened",
    RecipientState.SENT_TLS: "Sent over TLS",
    RecipientState.AWAITING_PICKUP: "Awaiting pickup",
    RecipientState.IN_PORTAL: "In their Sealpost inbox",
    RecipientState.BOUNCED: "Bounced",
    RecipientState.NOTIFICATION_FAILED: "Notification not sent",
    RecipientState.NOT_RECORDED: "Not recorded",
}

# Badge tone on the page: good news, waiting, trouble.
TONES = {
    RecipientState.REPLIED: "good",
    RecipientState.OPENED: "good",
    RecipientState.SENT_TLS: "good",
    RecipientState.AWAITING_PICKUP: "warn",
    RecipientState.IN_PORTAL: "plain",
    RecipientState.BOUNCED: "bad",
    RecipientState.NOTIFICATION_FAILED: "bad",
    RecipientState.NOT_RECORDED: "plain",
}

_FROM_DELIVERY = {
    DeliveryState.SENT_TLS: RecipientState.SENT_TLS,
    DeliveryState.PICKUP_NOTIFIED: RecipientState.AWAITING_PICKUP,
    DeliveryState.PORTAL: RecipientState.IN_PORTAL,
    DeliveryState.BOUNCED: RecipientState.BOUNCED,
    DeliveryState.NOTIFICATION_FAILED: RecipientState.NOTIFICATION_FAILED,
}


@dataclass(frozen=True)
class RecipientStatus:
    username: str
    seq: int  # the message this is about
    state: RecipientState
    at: str | None = None
    reason: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def tone(self) -> str:
        return TONES[self.state]


def status_of(
    username: str, message: MessageRecord, messages: Sequence[MessageRecord], deliveries: Iterable[Delivery]
) -> RecipientStatus:
    """Where ``username`` stands with ``message`` (which they did not send)."""
    later = [m for m in messages if m.sender == username and m.seq > message.seq]
    if later:
        first = min(later, key=lambda m: m.seq)
        return RecipientStatus(username, message.seq, RecipientState.REPLIED, first.created_at)
    opened = message.opened_by.get(username)
    if opened:
        return RecipientStatus(username, message.seq, RecipientState.OPENED, opened)
    record = next((d for d in deliveries if d.seq == message.seq and d.username == username), None)
    if record is None:
        return RecipientStatus(username, message.seq, RecipientState.NOT_RECORDED)
    return RecipientStatus(username, message.seq, _FROM_DELIVERY[record.state], record.at, record.reason)


def latest_statuses(
    participants: Iterable[str], messages: Sequence[MessageRecord], deliveries: Iterable[Delivery]
) -> list[RecipientStatus]:
    """One status per participant, about the newest message someone else sent them."""
    ordered = sorted(messages, key=lambda m: m.seq)
    delivered = list(deliveries)
    statuses = []
    for username in participants:
        received = [m for m in ordered if m.sender != username]
        if received:
            statuses.append(status_of(username, received[-1], ordered, delivered))
    return statuses
