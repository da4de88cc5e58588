"""How a stored message reaches each participant, and the record of it (R7, R8).

- Outside recipients get a notification without PHI carrying a pickup link (a new partner's
  first link registers them), unless the gateway delivers them the message over enforced TLS.
- Associates get a notice of a message in the portal; a partner's message also reaches their
  own mailbox over enforced TLS, and only falls back to the notice when SES refuses it.
- Every outcome is kept as a delivery record per message and recipient, for the thread page.

This is the one place that offers a pickup link for a message: when it is sent, when its TLS
send is refused (gateway) and when it bounces (delivery events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.tokens import IssuedToken
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.mail.mailer import MailNotSent
from chalicelib.mail.notices import Notifier
from chalicelib.mail.secure_mail import SecureContent, Sent, TlsDelivery
from chalicelib.messaging.model import Delivery, DeliveryState, MessageRecord, Thread
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.thread_store import ThreadRepository


@dataclass(frozen=True)
class MessageDelivery:
    threads: ThreadRepository
    pickup: PickupService
    notifier: Notifier
    tls: TlsDelivery
    audit: AuditLog

    def announce(
        self,
        actor: Account,
        sender: Account,
        participants: list[Account],
        thread: Thread,
        message: MessageRecord,
        content: SecureContent | None,
        *,
        new_links: Mapping[str, IssuedToken],
        by_mail: frozenset[str] = frozenset(),
    ) -> dict[str, bool]:
        """Tell everyone but the writer; ``content``: what a partner's message carries to associates by
        TLS mail (None: a notice instead); ``new_links``: new partners' stored first links by user name;
        ``by_mail``: addresses the gateway delivers over TLS itself. Returns who was told, by user name."""
        notified: dict[str, bool] = {}
        for account in participants:
            is_new = account.username in new_links
            if account.username in (sender.username, actor.username) and not is_new:
                continue
            if account.is_associate:
                if content is not None and self._mail_to_associate(account, sender, thread, message, content):
                    notified[account.username] = True
                    continue
                notified[account.username] = self._notice(account, sender, thread, message)
            elif account.status is not Status.TERMINATED and account.email not in by_mail:
                notified[account.username] = self.offer_pickup(
                    account, sender, thread, message, issued=new_links.get(account.username)
                )
        return notified

    def offer_pickup(
        self,
        recipient: Account,
        sender: Account,
        thread: Thread,
        message: MessageRecord,
        *,
        reason: str = "",
        issued: IssuedToken | None = None,
    ) -> bool:
        """Mail ``recipient`` a pickup link for ``message`` and record whether it went out."""
        sent = self.pickup.offer(recipient, sender, thread, message.message_id, issued=issued)
        state = DeliveryState.PICKUP_NOTIFIED if sent else DeliveryState.NOTIFICATION_FAILED
        self.record(message.thread_id, message.seq, recipient, state, reason)
        return sent

    def sent_over_tls(
        self, message: MessageRecord, recipient: Account, sent: Sent, *, actor: Actor, request: RequestInfo
    ) -> None:
        """Record a message SES took for delivery over enforced TLS; answers to the mail join the thread."""
        self.threads.remember_mail_ids(message.thread_id, [sent.message_id])
        self.record(message.thread_id, message.seq, recipient, DeliveryState.SENT_TLS, "sent")
        self.audit.record(
            AuditEvent.MESSAGE_DELIVERED_TLS,
            actor=actor,
            request=request,
            account=recipient.username,
            thread_id=message.thread_id,
            message_id=message.message_id,
            detail={"ses_message_id": sent.ses_message_id},
        )

    def record(self, thread_id: str, seq: int, recipient: Account, state: DeliveryState, reason: str = "") -> None:
        """Store (or overwrite: a bounce replaces "sent over TLS") how message ``seq`` reached ``recipient``."""
        self.threads.record_delivery(
            Delivery(thread_id, seq, recipient.username, state, clock.iso(clock.now()), reason)
        )

    def _notice(self, associate: Account, sender: Account, thread: Thread, message: MessageRecord) -> bool:
        sent = self.notifier.new_message(associate, sender, thread.reference_code, thread.thread_id)
        self.record(message.thread_id, message.seq, associate, DeliveryState.PORTAL)
        self.audit.record(
            AuditEvent.MESSAGE_NOTIFICATION_SENT,
            actor=Actor.system(),
            request=RequestInfo.system(),
            outcome=Outcome.SUCCESS if sent else Outcome.FAILURE,
            account=associate.username,
            thread_id=thread.thread_id,
            message_id=message.message_id,
        )
        return sent

    def _mail_to_associate(
        self, associate: Account, sender: Account, thread: Thread, message: MessageRecord, content: SecureContent
    ) -> bool:
        """A partner's message, in full, to the associate's own mailbox over enforced TLS."""
        try:
            sent = self.tls.send(
                sender,
                associate.email,
                associate.display_name,
                content,
                thread_id=thread.thread_id,
                seq=message.seq,
                reference_code=thread.reference_code,
            )
        except MailNotSent:
            return False
        self.sent_over_tls(message, associate, sent, actor=Actor.system(), request=RequestInfo.system())
        return True
