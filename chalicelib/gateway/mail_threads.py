"""The mail side of sending: an associate's mail becomes a thread, or joins the one it answers.

The thread is the retained copy (R6) and the portal's content either way. Attachments come
with the mail (nothing is staged); the addresses the router sends the message to over enforced
TLS get no pickup link; every other outside recipient gets one (``MessageDelivery``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.accounts.model import Account
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import RequestInfo
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
    ) -> SendResult:
        """Add the mail to ``join`` while it has room; otherwise start a thread (continuing ``join`` if full)."""
        if join is not None and not join.is_full:
            people = [self.accounts.require(u) for u in join.participants]
            return self.sender.add_to_thread(associate, join, people, draft, request, by_mail=by_mail)
        thread_id = new_id()
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
