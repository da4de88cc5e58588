"""SES delivery events for mail sent over enforced TLS (configuration set → SNS).

A bounce (the recipient's server would not take TLS, or refused the mail) falls back to
a pickup link, exactly once per message and recipient even when the event comes twice or its
first run failed (the queue hands a failed event out again).
A delivery event confirms the TLS delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, RequestInfo
from chalicelib.errors import ServiceUnavailable
from chalicelib.gateway.idempotency import Idempotency
from chalicelib.invocation import Deadline
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.model import DeliveryState, Thread
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.thread_store import ThreadRepository

log = logging.getLogger(__name__)

GATEWAY_ACTOR = Actor.system("mail-gateway")


class PickupNotSent(ServiceUnavailable):
    code = "pickup_not_sent"
    default_message = "The pickup link after a bounce could not be sent; it is sent again."


def _tag(mail: dict[str, Any], name: str) -> str | None:
    values = (mail.get("tags") or {}).get(name) or []
    return str(values[0]) if values else None


@dataclass(frozen=True)
class DeliveryEvents:
    accounts: AccountRepository
    threads: ThreadRepository
    pickup: PickupService
    delivery: MessageDelivery
    idempotency: Idempotency
    audit: AuditLog

    def handle(self, sns_message: str, deadline: Deadline | None = None) -> list[str]:
        """Returns what was done, per recipient (for logs and tests); ``deadline``: when the
        invocation ends (its claims lapse then)."""
        until = (deadline or Deadline.unknown()).epoch_seconds()
        try:
            event = json.loads(sns_message)
            kind = str(event.get("eventType") or event.get("notificationType") or "")
            mail = event["mail"]
            ses_id = str(mail["messageId"])
            thread_id, seq = _tag(mail, "thread_id"), _tag(mail, "seq")
        except (ValueError, KeyError, TypeError, AttributeError):  # not JSON, or not an SES event's shape
            log.warning("ignored a delivery event that could not be read")
            return []
        thread = self.threads.thread(thread_id) if thread_id else None
        if thread is None or not seq or not seq.isdigit():
            return []
        if kind in ("Bounce", "Reject"):
            details = event.get("bounce") or event.get("reject") or {}
            addresses = [str(r.get("emailAddress", "")).lower() for r in details.get("bouncedRecipients", [])]
            if kind == "Reject" or not addresses:
                addresses = [str(a).lower() for a in mail.get("destination", [])]
            reason = str(details.get("bounceType") or details.get("reason") or kind).lower()[:40]
            return [self._bounced(ses_id, thread, int(seq), a, reason, until) for a in addresses]
        if kind == "Delivery":
            return [
                self._delivered(thread, int(seq), str(a).lower())
                for a in (event.get("delivery") or {}).get("recipients", [])
            ]
        return []

    def _participant(self, thread: Thread, address: str) -> Account | None:
        for username in thread.participants:
            account = self.accounts.get(username)
            if account is not None and account.email == address:
                return account
        return None

    def _bounced(self, ses_id: str, thread: Thread, seq: int, address: str, reason: str, until: int) -> str:
        """The bounce is recorded once, and its pickup link sent once; a link SES refused fails the
        event, so that the queue hands it out again and only the link is sent then."""
        thread_id = thread.thread_id
        recipient = self._participant(thread, address)
        if recipient is None:
            return "skipped"
        message_id = self._message_id(thread_id, seq)
        recorded = self.idempotency.claim("bounce", ses_id, address, until=until)
        if recorded:
            try:
                self.audit.record(
                    AuditEvent.MESSAGE_BOUNCED,
                    actor=GATEWAY_ACTOR,
                    request=RequestInfo.system(),
                    account=recipient.username,
                    thread_id=thread_id,
                    message_id=message_id,
                    reason=reason,
                )
                self.delivery.record(thread_id, seq, recipient, DeliveryState.BOUNCED, "bounced")
            except Exception:
                self.idempotency.release("bounce", ses_id, address)
                raise
            self.idempotency.done("bounce", ses_id, address)
        if recipient.is_associate or recipient.status is Status.TERMINATED:
            return "bounced" if recorded else "skipped"
        if not self.idempotency.claim("bounce-pickup", ses_id, address, until=until):
            return "skipped"
        sender = self.accounts.get(thread.created_by) or recipient
        if not self.pickup.offer(recipient, sender, thread, message_id):
            self.idempotency.release("bounce-pickup", ses_id, address)
            raise PickupNotSent()
        self.delivery.record(thread_id, seq, recipient, DeliveryState.BOUNCED, "pickup_sent")
        self.idempotency.done("bounce-pickup", ses_id, address)
        return "pickup_sent"

    def _delivered(self, thread: Thread, seq: int, address: str) -> str:
        thread_id = thread.thread_id
        recipient = self._participant(thread, address)
        if recipient is None:
            return "skipped"
        current = {(d.seq, d.username): d for d in self.threads.deliveries(thread_id)}.get((seq, recipient.username))
        if current is not None and current.state is DeliveryState.BOUNCED:
            return "skipped"  # a late delivery event does not undo the bounce's pickup link
        self.delivery.record(thread_id, seq, recipient, DeliveryState.SENT_TLS, "delivered")
        return "delivered"

    def _message_id(self, thread_id: str, seq: int) -> str | None:
        messages = self.threads.messages(thread_id)
        return messages[seq - 1].message_id if 0 < seq <= len(messages) else None
