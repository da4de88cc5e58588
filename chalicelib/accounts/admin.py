"""What associates do to business-partner accounts (R1): create, invite, unlock, terminate, and see
and end their sessions (ASVS 7.4.5).

Only an associate can create a partner account; the partner then receives a
single-use invitation link and chooses a password. Every change is audited
before it is made, so a failed audit write leaves the account untouched.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status, validate_display_name, validate_username
from chalicelib.accounts.sessions import Principal, Session, SessionService
from chalicelib.accounts.store import AccountRepository, UsernameTaken
from chalicelib.accounts.tokens import IssuedToken, TokenPurpose, TokenStore
from chalicelib.addresses import validate_email
from chalicelib.audit.records import AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import (
    AccessDenied,
    AccountAlreadyExists,
    Conflict,
    InvalidRequest,
    NotFound,
    SealpostError,
)
from chalicelib.mail.mailer import MailNotSent
from chalicelib.mail.notices import Notifier
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

_USERNAME_ATTEMPTS = 5


@dataclass(frozen=True)
class PreparedPartner:
    account: Account
    invitation: IssuedToken


@dataclass(frozen=True)
class CreatedAccount:
    account: Account
    invitation_sent: bool


def _username_base(email: str) -> str:
    base = re.sub(r"[^a-z0-9]+", ".", email.partition("@")[0]).strip(".")
    return (base or "partner")[:24]


def require_associate(principal: Principal, audit: AuditLog, request: RequestInfo, action: str) -> None:
    """Deny (and audit) anyone who is not an associate."""
    if not principal.account.is_associate:
        raise _denied(principal, audit, request, action, "associate_only", "Only associates of the plan can do this.")


def require_administrator(principal: Principal, audit: AuditLog, request: RequestInfo, action: str) -> None:
    """Deny (and audit) anyone who is not an active associate administrator: fail closed, the flag must
    be set (by the provider's admin group, or ``sealpost-admin grant-admin``)."""
    if not principal.account.is_administrator:
        message = "Only administrators of the plan's accounts can do this."
        raise _denied(principal, audit, request, action, "administrator_only", message)


def _denied(
    principal: Principal, audit: AuditLog, request: RequestInfo, action: str, reason: str, message: str
) -> AccessDenied:
    """The audited denial of ``action`` to ``principal`` (the caller raises it)."""
    audit.record(
        AuditEvent.ACCESS_DENIED,
        actor=principal.actor,
        request=request,
        outcome=Outcome.DENIED,
        reason=reason,
        detail={"action": action},
    )
    return AccessDenied(message)


@dataclass(frozen=True)
class AccountAdmin:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    notifier: Notifier
    audit: AuditLog
    sessions: SessionService

    # --- create and invite ------------------------------------------------------------

    def prepare_partner(
        self,
        associate: Account,
        email: str,
        display_name: str,
        *,
        thread_id: str | None = None,
        link_purpose: TokenPurpose = TokenPurpose.INVITATION,
        link_thread_id: str | None = None,
    ) -> PreparedPartner:
        """``thread_id`` binds the account to one thread (credential scope ``thread``);
        ``link_thread_id`` binds its first link to the thread it leads to."""
        """A new partner account and its invitation, not yet stored (callers add them to a transaction)."""
        account = Account(
            username=f"{_username_base(email)}-{secrets.randbelow(10**6):06d}",
            email=email,
            role=Role.PARTNER,
            status=Status.INVITED,
            display_name=display_name,
            created_at=clock.iso(clock.now()),
            created_by=associate.username,
            thread_id=thread_id,
        )
        ttl = (
            self.settings.pickup_ttl_seconds
            if link_purpose is TokenPurpose.PICKUP
            else self.settings.invitation_ttl_seconds
        )
        invitation = self.tokens.issue(
            link_purpose, account.username, ttl, thread_id=link_thread_id or thread_id, created_by=associate.username
        )
        return PreparedPartner(account=account, invitation=invitation)

    def validate_partner_address(self, raw_email: Any, field: str = "email") -> str:
        email = validate_email(raw_email, field)
        if self.settings.is_internal_address(email):
            raise InvalidRequest(
                "This address is on the plan's own domain; associates sign in with their work account.",
                field=field,
            )
        return email

    def create_partner(
        self,
        associate: Principal,
        raw_email: Any,
        raw_display_name: Any,
        request: RequestInfo,
    ) -> CreatedAccount:
        require_associate(associate, self.audit, request, "create_account")
        email = self.validate_partner_address(raw_email)
        display_name = validate_display_name(raw_display_name)
        claim_email = self.settings.credential_scope == "recipient"
        if claim_email and self.accounts.username_for_email(email) is not None:
            raise AccountAlreadyExists()
        for _ in range(_USERNAME_ATTEMPTS):
            prepared = self.prepare_partner(associate.account, email, display_name)
            account = prepared.account
            self.audit.record(
                AuditEvent.ACCOUNT_CREATED,
                actor=associate.actor,
                request=request,
                account=account.username,
                detail={"role": str(Role.PARTNER), "credential_scope": self.settings.credential_scope},
            )
            try:
                self.accounts.create(
                    account,
                    claim_email=claim_email,
                    also_put=((self.tokens.table_name, prepared.invitation.item()),),
                )
            except UsernameTaken:
                self.record_aborted(associate, account, request, "username_taken")
                continue
            except SealpostError as exc:
                self.record_aborted(associate, account, request, exc.code)
                raise
            sent = self.send_invitation(associate.account, account, prepared.invitation.secret)
            return CreatedAccount(account=account, invitation_sent=sent)
        raise Conflict("Could not find a free user name. Please try again.")

    def resend_invitation(self, associate: Principal, raw_username: Any, request: RequestInfo) -> Account:
        """A new invitation link for a partner who has not registered yet; every earlier one stops working."""
        require_associate(associate, self.audit, request, "resend_invitation")
        account = self._partner(raw_username)
        if account.status is not Status.INVITED:
            raise Conflict("This account is already registered; there is no invitation to send.")
        invitation = self.tokens.issue(
            TokenPurpose.INVITATION,
            account.username,
            self.settings.invitation_ttl_seconds,
            thread_id=account.thread_id,
            created_by=associate.account.username,
        )
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=associate.actor,
            request=request,
            account=account.username,
            reason="invitation_resent",
        )
        self.accounts.replace_invitation(account.username, (self.tokens.table_name, invitation.item()))
        if not self.send_invitation(associate.account, account, invitation.secret):
            raise MailNotSent()
        return account

    def send_invitation(
        self, associate: Account, account: Account, secret: str, *, message_waiting: bool = False
    ) -> bool:
        # When it is not sent, the account is complete and the associate can resend the invitation.
        return self.notifier.invitation(associate, account, secret, message_waiting=message_waiting)

    def record_aborted(self, associate: Principal, account: Account, request: RequestInfo, reason: str) -> None:
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=associate.actor,
            request=request,
            outcome=Outcome.FAILURE,
            account=account.username,
            reason=reason,
        )

    # --- unlock and terminate ---------------------------------------------------------

    def unlock(self, associate: Principal, raw_username: Any, request: RequestInfo) -> Account:
        require_associate(associate, self.audit, request, "unlock_account")
        account = self._partner(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict("This account has been terminated and cannot be unlocked.")
        if not account.is_locked(self.settings.lockout_threshold):
            raise Conflict("This account is not locked.")
        self.audit.record(AuditEvent.ACCOUNT_UNLOCKED, actor=associate.actor, request=request, account=account.username)
        self.accounts.unlock(account.username, associate.account.username)
        return self.accounts.require(account.username)

    def terminate(
        self, associate: Principal, raw_username: Any, request: RequestInfo, reason: str = "associate_request"
    ) -> Account:
        require_associate(associate, self.audit, request, "terminate_account")
        account = self._partner(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict("This account is already terminated.")
        self.audit.record(
            AuditEvent.ACCOUNT_TERMINATED,
            actor=associate.actor,
            request=request,
            account=account.username,
            reason=reason,
        )
        self.accounts.terminate(account.username, associate.account.username)
        return self.accounts.require(account.username)

    # --- a partner's sessions ---------------------------------------------------------

    def partner_sessions(
        self, associate: Principal, raw_username: Any, request: RequestInfo
    ) -> tuple[Account, list[Session]]:
        """The partner account and its sessions that still work, newest first."""
        require_associate(associate, self.audit, request, "list_sessions")
        account = self._partner(raw_username)
        return account, self.sessions.live_for(account)

    def end_partner_session(self, associate: Principal, raw_username: Any, sid: str, request: RequestInfo) -> Account:
        """End one session of a partner (its browser must sign in again); audited before it ends."""
        require_associate(associate, self.audit, request, "end_session")
        account = self._partner(raw_username)
        self.sessions.end_live(account, sid, actor=associate.actor, request=request, reason="associate_request")
        return account

    def end_partner_sessions(self, associate: Principal, raw_username: Any, request: RequestInfo) -> Account:
        """End every session of a partner at once (the session generation moves on)."""
        require_associate(associate, self.audit, request, "end_sessions")
        account = self._partner(raw_username)
        self.audit.record(
            AuditEvent.SESSIONS_REVOKED,
            actor=associate.actor,
            request=request,
            account=account.username,
            reason="associate_request",
        )
        self.accounts.end_all_sessions(account.username)
        return account

    def list_partners(self, associate: Principal, request: RequestInfo) -> list[Account]:
        require_associate(associate, self.audit, request, "list_accounts")
        return sorted(self.accounts.list_by_role(Role.PARTNER), key=lambda a: a.created_at, reverse=True)

    def _partner(self, raw_username: Any) -> Account:
        account = self.accounts.get(validate_username(raw_username))
        if account is None or account.role is not Role.PARTNER:
            raise NotFound("There is no business-partner account with this user name.")
        return account
