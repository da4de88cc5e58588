"""SES delivery events for mail sent over enforced TLS (configuration set → SNS).

A bounce (the recipient's server would not take TLS, or refused the mail) falls back to
a pickup link, exactly once per message and recipient even when SNS repeats the event.
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
from chalicelib.gateway.idempotency import Idempotency
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.model import DeliveryState
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.thread_store import ThreadRepository

log = logging.getLogger(__name__)

GATEWAY_ACTOR = Actor.system("mail-gateway")


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

    def handle(self, sns_message: str) -> list[str]:
        """Returns what was done, per recipient (for logs and tests)."""
        try:
            event = json.loads(sns_message)
            kind = str(event.get("eventType") or event.get("notificationType") or "")
            mail = event["mail"]
            ses_id = str(mail["messageId"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a delivery event that could not be read")
            return []
        thread_id, seq = _tag(mail, "thread_id"), _tag(mail, "seq")
        thread = self.threads.thread(thread_id) if thread_id else None
        if thread is None or not seq or not seq.isdigit():
            return []
        if kind in ("Bounce", "Reject"):
            details = event.get("bounce") or event.get("reject") or {}
            addresses = [str(r.get("emailAddress", "")).lower() for r in details.get("bouncedRecipients", [])]
            if kind == "Reject" or not addresses:
                addresses = [str(a).lower() for a in mail.get("destination", [])]
            reason = str(details.get("bounceType") or details.get("reason") or kind).lower()[:40]
            return [self._bounced(ses_id, thread_id or "", int(seq), address, reason) for address in addresses]
        if kind == "Delivery":
            return [
                self._delivered(thread_id or "", int(seq), str(a).lower())
                for a in (event.get("delivery") or {}).get("recipients", [])
            ]
        return []

    def _participant(self, thread_id: str, address: str) -> Account | None:
        thread = self.threads.thread(thread_id)
        for username in thread.participants if thread else ():
            account = self.accounts.get(username)
            if account is not None and account.email == address:
                return account
        return None

    def _bounced(self, ses_id: str, thread_id: str, seq: int, address: str, reason: str) -> str:
        recipient = self._participant(thread_id, address)
        if recipient is None or not self.idempotency.claim("bounce", ses_id, address):
            return "skipped"
        thread = self.threads.thread(thread_id)
        assert thread is not None
        message_id = self._message_id(thread_id, seq)
        self.audit.record(
            AuditEvent.MESSAGE_BOUNCED,
            actor=GATEWAY_ACTOR,
            request=RequestInfo.system(),
            account=recipient.username,
            thread_id=thread_id,
            message_id=message_id,
            reason=reason,
        )
        outcome = "bounced"
        if not recipient.is_associate and recipient.status is not Status.TERMINATED:
            sender = self.accounts.get(thread.created_by) or recipient
            self.pickup.offer(recipient, sender, thread, message_id)
            outcome = "pickup_sent"
        self.delivery.record(thread_id, seq, recipient, DeliveryState.BOUNCED, outcome)
        self.idempotency.done("bounce", ses_id, address)
        return outcome

    def _delivered(self, thread_id: str, seq: int, address: str) -> str:
        recipient = self._participant(thread_id, address)
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
