"""Sign-in with the three-strike lockout (R3), and sign-out.

An attacker who does not hold the right password learns nothing from the answers:
an unknown user name, a wrong password and a locked account give the same error
shape, the same warning after two failures and the same lock message after three.
Unknown names cost the same argon2 verification (against a dummy hash) and the same
atomic counter update (on a guard item) as real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.model import Account, Status, guard_key, validate_username
from chalicelib.accounts.passwords import dummy_hash, verify_password
from chalicelib.accounts.sessions import Principal, Session, SessionService
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccountClosed, AccountLocked, InvalidCredentials, InvalidRequest
from chalicelib.settings import Settings

MAX_PASSWORD_INPUT = 1024
CAPS_LOCK_WARNING = (
    "Please double-check your spelling and the Caps Lock key: one more failed attempt will lock the account."
)


@dataclass(frozen=True)
class SignedIn:
    account: Account
    session_secret: str
    session: Session


def read_password(raw: Any, field: str = "password") -> str:
    if not isinstance(raw, str) or raw == "":
        raise InvalidRequest("Enter your password.", field=field)
    if len(raw) > MAX_PASSWORD_INPUT:
        raise InvalidRequest("The password is too long.", field=field)
    return raw


def failure_answer(
    count: int | None, threshold: int, *, message: str | None = None, field: str | None = None
) -> InvalidCredentials | AccountLocked:
    """R3: what a failed attempt answers once counted: locked at the threshold, a warning one before."""
    if count is None or count >= threshold:
        return AccountLocked()
    warning = CAPS_LOCK_WARNING if count == threshold - 1 else None
    return InvalidCredentials(warning=warning, message=message, field=field)


@dataclass(frozen=True)
class SignInService:
    settings: Settings
    accounts: AccountRepository
    sessions: SessionService
    audit: AuditLog

    def sign_in(self, raw_username: Any, raw_password: Any, request: RequestInfo) -> SignedIn:
        username = validate_username(raw_username)
        password = read_password(raw_password)
        account = self.accounts.get(username)
        registered = account is not None and account.password_hash is not None
        # Always one argon2 verification, so that timing does not tell unknown names apart.
        correct = verify_password(account.password_hash if registered else dummy_hash(), password)  # type: ignore[union-attr, arg-type]
        if account is None:
            key, expires_at = guard_key(username, self.settings.unknown_user_guard_seconds)
            count = self.accounts.count_failure(key, self.settings.lockout_threshold, expires_at)
            self._record_failure(None, "unknown_account", count, request)
            raise self._failure(count)
        if not (registered and correct):
            count = self.accounts.count_failure("ACCOUNT#" + username, self.settings.lockout_threshold)
            self._record_failure(account, "wrong_password" if registered else "not_registered", count, request)
            raise self._failure(count)
        # The right password from here on.
        if account.is_locked(self.settings.lockout_threshold):
            self._record_failure(account, "locked", None, request)
            raise AccountLocked()
        if account.status is Status.TERMINATED:
            self._record_failure(account, "terminated", None, request)
            raise AccountClosed()
        # Audit first: if the record cannot be written, nobody is signed in.
        self.audit.record(AuditEvent.SIGNIN_SUCCEEDED, actor=account.actor, request=request, account=account.username)
        if account.break_glass:
            # Emergency access (accounts.break_glass): its own record, the signal to review; fail closed too.
            self.audit.record(
                AuditEvent.BREAK_GLASS_SIGNIN,
                actor=account.actor,
                request=request,
                account=account.username,
                reason="emergency_access",
            )
        if not self.accounts.clear_failures(account.username, self.settings.lockout_threshold):
            # Locked (or terminated) between our read and this write by a parallel attempt.
            self._record_failure(account, "locked", None, request)
            raise AccountLocked()
        secret, session = self.sessions.start(account)
        return SignedIn(account=account, session_secret=secret, session=session)

    def _failure(self, count: int | None) -> InvalidCredentials | AccountLocked:
        return failure_answer(count, self.settings.lockout_threshold)

    def _record_failure(self, account: Account | None, reason: str, count: int | None, request: RequestInfo) -> None:
        target = account.username if account else None
        self.audit.record(
            AuditEvent.SIGNIN_FAILED,
            actor=Actor.anonymous(),
            request=request,
            outcome=Outcome.FAILURE,
            account=target,
            reason=reason,
            detail={"failed_attempts": count} if count is not None else None,
        )
        if count is not None and count == self.settings.lockout_threshold and account is not None:
            self.audit.record(
                AuditEvent.ACCOUNT_LOCKED,
                actor=Actor.system(),
                request=request,
                account=target,
                reason="failed_attempts",
                detail={"failed_attempts": count, "sessions_ended": True},
            )
            # A lock ends every session for good: an unlock lets the password in again, not an
            # old session (which may be the one whose owner was being guessed at).
            self.accounts.end_all_sessions(account.username)

    def sign_out(self, principal: Principal, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.SIGNED_OUT, actor=principal.actor, request=request, account=principal.account.username
        )
        self.sessions.end(principal.session)

    def sign_out_everywhere(self, principal: Principal, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.SESSIONS_REVOKED,
            actor=principal.actor,
            request=request,
            account=principal.account.username,
            reason="user_request",
        )
        self.accounts.end_all_sessions(principal.account.username)
        self.sessions.end(principal.session)
