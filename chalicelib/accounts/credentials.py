"""Choosing and changing passwords: registration from an invitation link, and password change."""

from __future__ import annotations

from dataclasses import dataclass
from hmac import compare_digest
from typing import Any

from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.passwords import check_new_password, hash_password, verify_password
from chalicelib.accounts.sessions import Principal, SessionService
from chalicelib.accounts.signin import SignedIn, failure_answer, read_password
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose, TokenStore, token_hash
from chalicelib.audit.records import AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccessDenied, InvalidRequest, LinkNotValid
from chalicelib.mail.notices import Notifier
from chalicelib.settings import Settings


def _new_password(raw: Any, account: Account, raw_confirmation: Any, plan_name: str) -> str:
    password = read_password(raw, field="password")
    if raw_confirmation is not None and raw_confirmation != raw:
        raise InvalidRequest("The two passwords do not match.", field="password_confirmation")
    return check_new_password(password, context=(account.username, account.email), names=(plan_name,))


@dataclass(frozen=True)
class CredentialService:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    sessions: SessionService
    notifier: Notifier
    audit: AuditLog

    def invited_account(self, secret: str, purpose: TokenPurpose = TokenPurpose.INVITATION) -> Account:
        """The account an invitation (or first pickup) link is for, if the link is still good; does not use it up.

        Once an invitation was sent again, only the newest invitation link is good: the account keeps its
        hash. First-pickup links lead to a message of their own thread and stay good until used or expired.
        """
        token = self.tokens.peek(secret, purpose)
        account = self.accounts.get(token.username)
        if account is None or account.status is not Status.INVITED:
            raise LinkNotValid()
        current = account.invitation_hash
        if (
            purpose is TokenPurpose.INVITATION
            and current is not None
            and not compare_digest(current, token_hash(secret))
        ):
            raise LinkNotValid()
        return account

    def register(
        self,
        secret: str,
        raw_password: Any,
        raw_confirmation: Any,
        request: RequestInfo,
        purpose: TokenPurpose = TokenPurpose.INVITATION,
    ) -> SignedIn:
        """First sign-in from an invitation or pickup link: choose the password, then start a session."""
        account = self.invited_account(secret, purpose)
        password_hash = hash_password(_new_password(raw_password, account, raw_confirmation, self.settings.plan_name))
        self.audit.record(
            AuditEvent.PASSWORD_SET,
            actor=account.actor,
            request=request,
            account=account.username,
            thread_id=account.thread_id,
            reason=f"registration_{purpose}",
        )
        self.tokens.consume(secret, purpose)
        self.accounts.set_password(account.username, password_hash, expected_generation=account.session_generation)
        fresh = self.accounts.require(account.username)
        # Under MfaPolicy=required the new session is a pending one that reaches only enrolment
        # (or, in the thread scope, the factor this mail address already has).
        stage = self.sessions.first_stage(fresh)
        secret_for_cookie, session = self.sessions.start(fresh, stage=stage, method="registration", request=request)
        return SignedIn(account=fresh, session_secret=secret_for_cookie, session=session)

    def change_password(
        self, principal: Principal, raw_current: Any, raw_new: Any, raw_confirmation: Any, request: RequestInfo
    ) -> SignedIn:
        """Change the password; every session ends and a new one is started for this browser."""
        account = principal.account
        if account.break_glass:
            # Its sealed passphrase must stay the only one: it is replaced with sealpost-admin only.
            self.audit.record(
                AuditEvent.ACCESS_DENIED,
                actor=principal.actor,
                request=request,
                outcome=Outcome.DENIED,
                account=account.username,
                reason="break_glass",
                detail={"action": "change_password"},
            )
            raise AccessDenied(
                "The passphrase of a break-glass account cannot be changed here; an administrator replaces it "
                "after each use."
            )
        current = read_password(raw_current, field="current_password")
        new_password = _new_password(raw_new, account, raw_confirmation, self.settings.plan_name)
        if not account.password_hash or not verify_password(account.password_hash, current):
            # A wrong current password counts toward the lockout like any failed sign-in.
            threshold = self.settings.lockout_threshold
            count = self.accounts.count_failure("ACCOUNT#" + account.username, threshold)
            raise failure_answer(
                count, threshold, message="The current password is not correct.", field="current_password"
            )
        self.audit.record(AuditEvent.PASSWORD_CHANGED, actor=principal.actor, request=request, account=account.username)
        self.accounts.set_password(
            account.username, hash_password(new_password), expected_generation=account.session_generation
        )
        self.sessions.end(principal.session)
        fresh = self.accounts.require(account.username)
        secret, session = self.sessions.start(fresh, request=request)
        self._notify_password_changed(fresh)
        return SignedIn(account=fresh, session_secret=secret, session=session)

    def set_new_password(self, account: Account, raw_password: Any, raw_confirmation: Any) -> None:
        """Store a new password after a verified reset (ends every session) and mail a notice."""
        password_hash = hash_password(_new_password(raw_password, account, raw_confirmation, self.settings.plan_name))
        self.accounts.set_password(account.username, password_hash, expected_generation=account.session_generation)
        self._notify_password_changed(account)

    def check_new_password(self, account: Account, raw_password: Any, raw_confirmation: Any) -> None:
        _new_password(raw_password, account, raw_confirmation, self.settings.plan_name)

    def _notify_password_changed(self, account: Account) -> None:
        # The change itself is done and audited; the notice is a courtesy.
        self.notifier.password_changed(account)
