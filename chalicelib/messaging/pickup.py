"""Pickup links (R7): how an outside recipient reaches an encrypted message.

A notification carries nothing but ``<portal>/p/<token>``: 256 random bits, stored as a
hash, bound to the recipient's account and the thread, valid 72 h (setting), single use.
The first pickup registers the recipient (they choose a password; the user name is shown
and mailed); later pickups ask for user name and password. An expired or used link shows
a page that lets the recipient ask for a new one, which notifies the thread's associates,
who can send a fresh link from the thread's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.credentials import CredentialService
from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.signin import SignedIn, SignInService
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import IssuedToken, LinkToken, TokenPurpose, TokenState, TokenStore
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import InvalidRequest, LinkNotValid, NotFound
from chalicelib.mail.notices import Notifier
from chalicelib.messaging.model import Thread
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Pickup:
    """What a pickup link leads to."""

    token: LinkToken
    state: TokenState
    account: Account
    thread: Thread

    @property
    def first_time(self) -> bool:
        return self.account.status is Status.INVITED


@dataclass(frozen=True)
class PickupService:
    settings: Settings
    accounts: AccountRepository
    threads: ThreadRepository
    tokens: TokenStore
    credentials: CredentialService
    signin: SignInService
    notifier: Notifier
    audit: AuditLog

    def issue(self, recipient: Account, thread_id: str, created_by: str) -> IssuedToken:
        """A new link for ``recipient`` to ``thread_id``, not yet stored."""
        return self.tokens.issue(
            TokenPurpose.PICKUP,
            recipient.username,
            self.settings.pickup_ttl_seconds,
            thread_id=thread_id,
            created_by=created_by,
        )

    def link(self, issued: IssuedToken) -> str:
        return f"{self.settings.portal_url}/p/{issued.secret}"

    def offer(
        self,
        recipient: Account,
        sender: Account,
        thread: Thread,
        message_id: str | None = None,
        *,
        issued: IssuedToken | None = None,
    ) -> bool:
        """Mail ``recipient`` a pickup link to ``thread`` (no PHI: sender, reference code, link) and audit it.

        ``issued``: a link already stored (a new partner's first one, saved with their account);
        otherwise a new link is issued and stored first. False when the mail could not be sent.
        """
        if issued is None:
            issued = self.issue(recipient, thread.thread_id, sender.username)
            self.tokens.save(issued)
        sent = self._mail(recipient, sender, thread, issued)
        self.audit.record(
            AuditEvent.PICKUP_LINK_SENT,
            actor=Actor.system(),
            request=RequestInfo.system(),
            outcome=Outcome.SUCCESS if sent else Outcome.FAILURE,
            account=recipient.username,
            thread_id=thread.thread_id,
            message_id=message_id,
        )
        return sent

    def _mail(self, recipient: Account, sender: Account, thread: Thread, issued: IssuedToken) -> bool:
        return self.notifier.pickup(
            recipient, sender, thread.reference_code, self.link(issued), first_time=recipient.status is Status.INVITED
        )

    def open(self, secret: str) -> Pickup | None:
        """Where a link leads, whatever its state; None when it is not one of ours."""
        found = self.tokens.find(secret, TokenPurpose.PICKUP)
        if found is None or not found[0].thread_id:
            return None
        token, state = found
        account = self.accounts.get(token.username)
        thread = self.threads.thread(token.thread_id) if token.thread_id else None
        if account is None or thread is None:
            return None
        if account.status is Status.TERMINATED:
            state = TokenState.USED if state is TokenState.VALID else state
        return Pickup(token=token, state=state, account=account, thread=thread)

    def _valid(self, secret: str) -> Pickup:
        pickup = self.open(secret)
        if pickup is None or pickup.state is not TokenState.VALID:
            raise LinkNotValid()
        return pickup

    def register(
        self, secret: str, raw_password: Any, raw_confirmation: Any, request: RequestInfo
    ) -> tuple[SignedIn, str]:
        """First pickup: the recipient chooses a password; the user name is mailed to them.
        Returns the session and the thread the link leads to."""
        pickup = self._valid(secret)
        signed_in = self.credentials.register(secret, raw_password, raw_confirmation, request, TokenPurpose.PICKUP)
        self.notifier.registered(signed_in.account)
        return signed_in, pickup.thread.thread_id

    def sign_in(self, secret: str, raw_password: Any, request: RequestInfo) -> tuple[SignedIn, str]:
        """Later pickups: sign in as the link's account; the link is used up. Returns where to go."""
        pickup = self._valid(secret)
        if pickup.first_time:
            raise InvalidRequest("Choose your password first.", field="password")
        signed_in = self.signin.sign_in(pickup.account.username, raw_password, request)
        self.tokens.consume(secret, TokenPurpose.PICKUP)
        return signed_in, pickup.thread.thread_id

    def request_new_link(self, secret: str, request: RequestInfo) -> None:
        """From the "link no longer valid" page: tell the thread's associates (same answer for unknown links)."""
        pickup = self.open(secret)
        if pickup is None or pickup.account.status is Status.TERMINATED:
            return
        reason = "expired" if pickup.state is TokenState.EXPIRED else "already been used"
        self.audit.record(
            AuditEvent.PICKUP_NEW_LINK_REQUESTED,
            actor=Actor.anonymous(),
            request=request,
            account=pickup.account.username,
            thread_id=pickup.thread.thread_id,
            reason=str(pickup.state),
        )
        for username in pickup.thread.associates:
            associate = self.accounts.get(username)
            if associate is not None and associate.status is Status.ACTIVE:
                self.notifier.new_link_requested(
                    associate, pickup.account, pickup.thread.reference_code, pickup.thread.thread_id, reason
                )

    def resend(self, associate: Principal, thread_id: str, raw_username: Any, request: RequestInfo) -> Account:
        """An associate on the thread sends a participant a fresh pickup link."""
        thread = self.threads.thread(thread_id) if isinstance(thread_id, str) else None
        if (
            thread is None
            or not associate.account.is_associate
            or associate.account.username not in thread.associates
            or raw_username not in thread.participants
        ):
            raise NotFound("There is no such participant in your threads.")
        recipient = self.accounts.require(str(raw_username))
        if recipient.is_associate or recipient.status is Status.TERMINATED:
            raise NotFound("There is no such participant in your threads.")
        issued = self.issue(recipient, thread.thread_id, associate.account.username)
        self.audit.record(
            AuditEvent.PICKUP_LINK_SENT,
            actor=associate.actor,
            request=request,
            account=recipient.username,
            thread_id=thread.thread_id,
            reason="resent_by_associate",
        )
        self.tokens.save(issued)
        self._mail(recipient, associate.account, thread, issued)
        return recipient
