"""Sign-in with the three-strike lockout (R3), and sign-out.

An attacker who does not hold the right password learns nothing from the answers:
an unknown user name, a wrong password and a locked account give the same error
shape, the same warning after two failures and the same lock message after three.
Unknown names cost the same argon2 verification (against a dummy hash) and the same
atomic counter update (on a guard item) as real ones. In the ``recipient`` credential scope
the mail address is a second name for the account, under the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.model import Account, LockCause, Status, guard_key, validate_username
from chalicelib.accounts.passwords import dummy_hash, verify_password
from chalicelib.accounts.sessions import FULL, Principal, Session, SessionService
from chalicelib.accounts.store import AccountRepository
from chalicelib.addresses import validate_email
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccountClosed, AccountLocked, InvalidCredentials, InvalidRequest
from chalicelib.settings import Settings

MAX_PASSWORD_INPUT = 1024
# The user name looked up for a mail address that no account claims: never valid (a user name begins
# with a letter or digit), so the GetItem finds nothing, as it costs what a known address's does.
UNMATCHED_ADDRESS = "~no-account-for-this-address"
CAPS_LOCK_WARNING = (
    "Please double-check your spelling and the Caps Lock key: one more failed attempt will lock the account."
)


@dataclass(frozen=True)
class SignedIn:
    account: Account
    session_secret: str
    session: Session

    @property
    def complete(self) -> bool:
        """False while a second factor (or its enrolment) is still to come: the cookie is a pending one."""
        return self.session.stage == FULL


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
        username, guard_name = self._identify(raw_username)
        password = read_password(raw_password)
        account = self.accounts.get(username)
        registered = account is not None and account.password_hash is not None
        # Always one argon2 verification, so that timing does not tell unknown names apart.
        correct = verify_password(account.password_hash if registered else dummy_hash(), password)  # type: ignore[union-attr, arg-type]
        if account is None:
            key, expires_at = guard_key(guard_name, self.settings.unknown_user_guard_seconds)
            count = self.accounts.count_failure(key, self.settings.lockout_threshold, expires_at)
            self._record_failure(None, "unknown_account", count, request)
            raise self._failure(count)
        if account.is_associate and not account.break_glass and not self.settings.associate_password_signin:
            # Associates sign in through the plan's OpenID provider (chalicelib/identity); a password only in
            # local mode and for break-glass. Any password gets the wrong-password answer, counted on the
            # name's guard as for an unknown name (warning, then lock), so it tells nothing and cannot lock
            # the associate out of the provider's sign-in.
            key, expires_at = guard_key(guard_name, self.settings.unknown_user_guard_seconds)
            count = self.accounts.count_failure(key, self.settings.lockout_threshold, expires_at)
            self.audit.record(  # not _record_failure: the guard's lock is no lock of the account
                AuditEvent.SIGNIN_FAILED,
                actor=Actor.anonymous(),
                request=request,
                outcome=Outcome.FAILURE,
                account=account.username,
                reason="password_signin_off",
                detail={"failed_attempts": count} if count is not None else None,
            )
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
        return self.begin_session(account, request, method="password")

    def begin_session(
        self, account: Account, request: RequestInfo, *, method: str, provider: str | None = None
    ) -> SignedIn:
        """Start the session of an account whose first step (``method``: password, oidc) succeeded, in the
        stage that MfaPolicy and the account's enrolled factors decide (``SessionService.first_stage``).

        Only a full session is a sign-in: audited, and it clears the failure counter. A pending one
        (second factor or enrolment still to come) clears nothing, so that password, wrong code, wrong
        code, password again does not give unlimited guesses; the factor step clears it (``succeeded``).
        """
        stage = self.sessions.first_stage(account)
        if stage == FULL:
            self.succeeded(account, request, method=method, second_factor="none", provider=provider)
        secret, session = self.sessions.start(account, stage=stage, method=method, request=request)
        return SignedIn(account=account, session_secret=secret, session=session)

    def succeeded(
        self, account: Account, request: RequestInfo, *, method: str, second_factor: str, provider: str | None = None
    ) -> None:
        """Every step of a sign-in succeeded: audit it and clear the failure counter (or refuse, if locked).
        ``provider``: the OpenID provider (chalicelib/identity) of an ``oidc`` sign-in."""
        # Audit first: if the record cannot be written, nobody is signed in.
        self.audit.record(
            AuditEvent.SIGNIN_SUCCEEDED,
            actor=account.actor,
            request=request,
            account=account.username,
            detail={"method": method, "second_factor": second_factor, **({"provider": provider} if provider else {})},
        )
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

    def count_failure(
        self,
        account: Account,
        reason: str,
        request: RequestInfo,
        *,
        message: str | None = None,
        field: str | None = None,
        cause: LockCause = LockCause.SECOND_FACTOR,
    ) -> InvalidCredentials | AccountLocked:
        """A failed later step of a known account (a wrong second factor): counted toward the same lock as a
        wrong password, audited (the lock too, which ends every session); returns the answer to raise.
        A lock it helps to reach is the second factor's (``cause``), which a password reset never lifts."""
        threshold = self.settings.lockout_threshold
        count = self.accounts.count_failure("ACCOUNT#" + account.username, threshold, cause=cause)
        self._record_failure(account, reason, count, request)
        return failure_answer(count, threshold, message=message, field=field)

    def _identify(self, raw_identifier: Any) -> tuple[str, str]:
        """The user name to look up, and the name whose guard counts failures when there is no such account.

        In the ``recipient`` scope a mail address (any case) names its account as well as the user name
        does: both reach the account's one failure counter. An address looks up its claim, then the
        account, always with a second GetItem (on a key no account has when the address is unknown), so
        known and unknown addresses cost the same calls; an unknown one warns and locks on its own guard.
        The ``thread`` scope has one account per thread, so there an address is only a user name.
        """
        if self.settings.credential_scope == "recipient" and isinstance(raw_identifier, str) and "@" in raw_identifier:
            email = validate_email(raw_identifier, field="username")
            return self.accounts.username_for_email(email) or UNMATCHED_ADDRESS, email
        username = validate_username(raw_identifier)
        return username, username

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
            # The cause as the counting updates recorded it (no further failure is counted once locked).
            locked = self.accounts.get(account.username)
            cause = (locked.lock_cause(count) if locked else None) or LockCause.PASSWORD  # count: the threshold
            self.audit.record(
                AuditEvent.ACCOUNT_LOCKED,
                actor=Actor.system(),
                request=request,
                account=target,
                reason="failed_attempts",
                detail={"failed_attempts": count, "sessions_ended": True, "cause": str(cause)},
            )
            # A lock ends every session for good: an unlock lets the password in again, not an
            # old session (which may be the one whose owner was being guessed at).
            self.accounts.end_all_sessions(account.username)

    def sign_out(self, principal: Principal, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.SIGNED_OUT, actor=principal.actor, request=request, account=principal.account.username
        )
        self.sessions.end(principal.session)

    def own_sessions(self, principal: Principal) -> list[Session]:
        """The signed-in person's sessions that still work, newest first (ASVS 7.5.2). A pending one (its
        second factor still to come) is no sign-in yet, and is not listed."""
        return self.sessions.live_for(principal.account, full_only=True)

    def end_own_session(self, principal: Principal, sid: str, request: RequestInfo) -> Session:
        """End one of the person's own sessions (``own_sessions``): audited, reason ``user_request``. A sid
        of anyone else's session, or of a pending one, is ``NotFound``."""
        return self.sessions.end_live(
            principal.account, sid, actor=principal.actor, request=request, reason="user_request", full_only=True
        )

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
