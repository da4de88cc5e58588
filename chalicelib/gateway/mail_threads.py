"""The mail side of sending: an associate's mail becomes a thread, or joins the one it answers.

The thread is the retained copy (R6) and the portal's content either way. A mail whose
run ended after its message was stored is resumed: the rest of the send, nothing twice. Attachments come
with the mail (nothing is staged); the addresses the router sends the message to over enforced
TLS get no pickup link; every other outside recipient gets one (``MessageDelivery``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.accounts.model import Account
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import ServiceUnavailable
from chalicelib.messaging.drafts import Draft
from chalicelib.messaging.model import Thread, new_id
from chalicelib.messaging.participants import Participants
from chalicelib.messaging.sender import ByMail, MessageSender, SendResult


@dataclass(frozen=True)
class MailThreads:
    accounts: AccountRepository
    participants: Participants
    sender: MessageSender

    def post(
        self,
        associate: Account,
        outside: list[str],
        draft: Draft,
        request: RequestInfo,
        by_mail: ByMail,
        *,
        join: Thread | None = None,
        thread_id: str | None = None,
    ) -> SendResult:
        """Add the mail to ``join`` while it has room; otherwise start a thread (continuing ``join`` if
        full), with ``thread_id`` when given (the gateway's id for the mail)."""
        if join is not None and not join.is_full:
            people = [self.accounts.require(u) for u in join.participants]
            return self.sender.add_to_thread(associate, join, people, draft, request, by_mail=by_mail)
        thread_id = thread_id or new_id()
        partners, new_partners = self.participants.outside(associate, outside, thread_id)
        return self.sender.new_thread(
            associate,
            thread_id,
            [associate, *partners],
            new_partners,
            draft,
            request,
            predecessor=join,
            by_mail=by_mail,
        )

    def resume(self, associate: Account, thread_id: str, message_id: str, by_mail: ByMail) -> SendResult:
        """A mail an earlier run stored: finish its entries and tell whoever was not told yet."""
        threads = self.sender.threads
        thread = threads.thread(thread_id)
        message = next((m for m in threads.messages(thread_id) if m.message_id == message_id), None)
        if thread is None or message is None:
            # The marker is written in the same transaction as the message: this cannot happen.
            raise ServiceUnavailable("The stored message of this mail could not be read.")
        people, pending = self.sender.complete(thread, message)
        if by_mail.committed is not None and len(pending) == len(people):
            # Nobody was told yet, so the routing decisions (recorded before the first notice) may be missing.
            by_mail.committed(thread, message, people)
        notified = self.sender.delivery.announce(
            associate, associate, pending, thread, message, None, new_links={}, by_mail=by_mail.tls
        )
        return SendResult(thread=thread, message=message, notified=notified, participants=tuple(people))
