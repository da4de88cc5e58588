"""The second factor: the sign-in step after the password, enrolment, recovery codes, and an
associate's reset.

- The step: a pending ``factor`` session (``accounts.sessions``) gives a TOTP code or a recovery
  code. A wrong one counts toward the account's one failure counter, the same three-strike lock as
  a wrong password (warning at two, ``signin.failure_answer``). A right password never cleared that
  counter (``SignInService.begin_session``): only the right factor does, so password, wrong code,
  wrong code, password again still locks at the next wrong code.
- A TOTP code's time step is used up by a conditional update, so a code never works twice, not even
  in its own window (ASVS 6.5.1). A recovery code is used up by a conditional DELETE.
- Completing the step ends the pending session and starts a full one under a new token (7.2.4).
- A password reset starts no session: the next sign-in asks for the factor again (6.4.3).
- Enrolment: a new seed (sealed) is offered with its QR code and the seed in groups of four, shown
  once; a code from it confirms it; then ten recovery codes are shown once.
- A change a signed-in person makes to their factors needs the password or a code first (ASVS 7.5.1)
  and is mailed to them (6.3.7): someone who took over a session cannot quietly add their own factor.
- Passkeys: ``passkey_factor``, which uses the steps here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.accounts.admin import require_associate
from chalicelib.accounts.model import Account, Role, Status, validate_username
from chalicelib.accounts.passwords import verify_password
from chalicelib.accounts.sessions import ENROL, FACTOR, Principal, Session, SessionService
from chalicelib.accounts.signin import MAX_PASSWORD_INPUT, SignedIn, SignInService
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import AuditEvent, AuditLog, RequestInfo
from chalicelib.errors import AccessDenied, AuthenticationRequired, Conflict, InvalidRequest, NotFound
from chalicelib.mail.notices import Notifier
from chalicelib.mfa import recovery, totp
from chalicelib.mfa.factors import FactorSet, FactorStore
from chalicelib.mfa.sealed import SeedSealer
from chalicelib.settings import Settings

WRONG_CODE = "That code is not right. Check the time on your phone, or use one of your recovery codes."
MAX_CODE_INPUT = 64


def read_code(raw: Any, field_name: str = "code") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest("Enter the code.", field=field_name)
    if len(raw) > MAX_CODE_INPUT:
        raise InvalidRequest("That is too long for a code.", field=field_name)
    return raw


@dataclass(frozen=True)
class Offer:
    """A TOTP seed offered for enrolment: shown once (QR code and the seed in groups of four)."""

    seed_grouped: str = field(repr=False)
    uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


@dataclass(frozen=True)
class Pending:
    """A session waiting for its second factor (``factor``) or its enrolment (``enrol``)."""

    account: Account
    session: Session

    @property
    def stage(self) -> str:
        return self.session.stage


@dataclass(frozen=True)
class SecondFactorService:
    settings: Settings
    accounts: AccountRepository
    factors: FactorStore
    sealer: SeedSealer
    sessions: SessionService
    signin: SignInService
    notifier: Notifier
    audit: AuditLog

    # --- the pending session ----------------------------------------------------------------

    def pending(self, secret: str | None) -> Pending:
        account, session = self.sessions.resolve_pending(secret)
        return Pending(account, session)

    def factor_set(self, account: Account) -> FactorSet:
        return self.factors.get(account.email)

    @property
    def may_skip(self) -> bool:
        return self.settings.mfa_policy == "optional"

    # --- the sign-in step -------------------------------------------------------------------

    def verify(self, pending: Pending, raw_code: Any, request: RequestInfo) -> SignedIn:
        """The second step of a sign-in: a TOTP code or a recovery code; a full session when right."""
        if pending.stage != FACTOR:
            raise AuthenticationRequired()
        account = pending.account
        raw = read_code(raw_code)
        factors = self.factor_set(account)
        used = self._check(account, factors, raw, request)
        self.signin.succeeded(account, request, method=pending.session.method, second_factor=used)
        return self.step_up(pending)

    def _check(self, account: Account, factors: FactorSet, raw: str, request: RequestInfo) -> str:
        """Which factor ``raw`` proved (``totp`` or ``recovery``); else the counted failure is raised."""
        code = totp.clean_code(raw)
        if code is not None and factors.totp_seed is not None:
            step = totp.matched_step(self.sealer.open(account.email, factors.totp_seed), code)
            if step is not None:
                if self.factors.use_step(account.email, step):
                    return "totp"
                raise self.counted_failure(account, "totp_replayed", request)  # the right code, used before
        else:
            recovery_code = recovery.clean_code(raw)
            if recovery_code is not None and self.factors.use_recovery(
                account.email, recovery.code_hash(recovery_code)
            ):
                self.audit.record(
                    AuditEvent.MFA_RECOVERY_CODE_USED,
                    actor=account.actor,
                    request=request,
                    account=account.username,
                    detail={"recovery_codes_left": max(factors.recovery_left - 1, 0)},
                )
                return "recovery"
        raise self.counted_failure(account, "wrong_second_factor", request)

    def counted_failure(
        self, account: Account, reason: str, request: RequestInfo, message: str = WRONG_CODE, field: str = "code"
    ) -> Exception:
        """A wrong second factor, counted toward the account's one three-strike lock."""
        return self.signin.count_failure(account, reason, request, message=message, field=field)

    def step_up(self, pending: Pending) -> SignedIn:
        fresh = self.accounts.require(pending.account.username)
        secret, session = self.sessions.step_up(pending.session, fresh)
        return SignedIn(account=fresh, session_secret=secret, session=session)

    # --- enrolment --------------------------------------------------------------------------

    def offer(self, account: Account) -> Offer:
        """A new TOTP seed for ``account``'s address, kept sealed until a code confirms it."""
        seed = totp.new_seed()
        self.factors.offer_totp(account.email, self.sealer.seal(account.email, seed))
        uri = totp.provisioning_uri(seed, account.email, self.settings.plan_name)
        return Offer(seed_grouped=totp.grouped(seed), uri=uri, qr_svg=totp.qr_svg(uri))

    def confirm(self, account: Account, raw_code: Any, request: RequestInfo) -> None:
        """A code from the offered seed makes it the address's TOTP factor (replacing an older one, whose
        recovery codes stop working); the recovery codes are then due (``recovery_codes``)."""
        raw = read_code(raw_code)
        factors = self.factor_set(account)
        if factors.pending_seed is None:
            raise Conflict("Start again: the set-up of your authenticator app has expired.")
        code = totp.clean_code(raw)
        step = totp.matched_step(self.sealer.open(account.email, factors.pending_seed), code) if code else None
        if step is None:
            raise InvalidRequest(
                "That code does not match. Enter the six digits your authenticator app shows now.", field="code"
            )
        replaced = factors.has_totp
        self.audit.record(
            AuditEvent.MFA_ENROLLED,
            actor=account.actor,
            request=request,
            account=account.username,
            reason="replaced" if replaced else "first",
            detail={"factor": "totp"},
        )
        if not self.factors.confirm_totp(account.email, factors.pending_seed, step):
            raise Conflict("Start again: the set-up of your authenticator app changed meanwhile.")

    def replace(self, principal: Principal, raw_proof: Any, raw_code: Any, request: RequestInfo) -> None:
        """A signed-in person replaces their app (a new phone): the password or a code of the current
        factor first (ASVS 7.5.1: a session alone must not change the factors), then ``confirm``."""
        had_app = self.factor_set(principal.account).has_totp
        if self.factor_set(principal.account).has_factor:
            self.reauthenticate(principal.account, raw_proof, request)
        self.confirm(principal.account, raw_code, request)
        self.notifier.factors_changed(principal.account, "app_replaced" if had_app else "app_set_up")

    def finish_enrolment(self, pending: Pending, request: RequestInfo, factor: str = "totp") -> SignedIn:
        """After ``confirm`` (or a passkey's registration) in a pending ``enrol`` session: the sign-in is
        complete (a new token)."""
        if pending.stage != ENROL or not self.factor_set(pending.account).has_factor:
            raise AuthenticationRequired()
        self.complete(pending, request, factor)
        return self.step_up(pending)

    def skip(self, pending: Pending, request: RequestInfo) -> SignedIn:
        """MfaPolicy=optional: go on without a second factor."""
        if pending.stage != ENROL or not self.may_skip:
            raise AccessDenied("A second factor is required: set up your authenticator app to continue.")
        self.complete(pending, request, "skipped")
        return self.step_up(pending)

    def complete(self, pending: Pending, request: RequestInfo, second_factor: str) -> None:
        if pending.session.method == "registration":
            # A registration is no sign-in (no record, as before); the counter of a new account is empty.
            return
        self.signin.succeeded(pending.account, request, method=pending.session.method, second_factor=second_factor)

    def recovery_codes(self, account: Account, request: RequestInfo, *, due_only: bool) -> list[str] | None:
        """Ten new recovery codes (the old ones stop working), to be shown once. ``due_only``: only the
        first time after an enrolment (None otherwise)."""
        if due_only and not self.factors.take_recovery_due(account.email):
            return None
        codes = recovery.new_codes()
        self.audit.record(
            AuditEvent.MFA_RECOVERY_CODES_ISSUED,
            actor=account.actor,
            request=request,
            account=account.username,
            reason="enrolment" if due_only else "regenerated",
            detail={"count": len(codes)},
        )
        if not self.factors.replace_recovery(account.email, recovery.hashes(codes)):
            raise Conflict("Set up your authenticator app first.")
        return codes

    # --- one's own factors (a full session) ----------------------------------------------------

    def regenerate_recovery_codes(self, principal: Principal, raw_proof: Any, request: RequestInfo) -> list[str]:
        """New recovery codes, after the password or a code (TOTP or a recovery code) proves it is you."""
        self.reauthenticate(principal.account, raw_proof, request)
        codes = self.recovery_codes(principal.account, request, due_only=False)
        assert codes is not None
        self.notifier.factors_changed(principal.account, "recovery_codes_renewed")
        return codes

    def remove(self, principal: Principal, raw_proof: Any, request: RequestInfo) -> None:
        """Remove one's own factors (only when MfaPolicy is not ``required``)."""
        if self.settings.mfa_policy == "required":
            raise AccessDenied("A second factor is required here: you can replace it, not remove it.")
        self.reauthenticate(principal.account, raw_proof, request)
        account = principal.account
        self.audit.record(AuditEvent.MFA_REMOVED, actor=account.actor, request=request, account=account.username)
        self.factors.remove(account.email)
        self.notifier.factors_changed(account, "removed")

    def reauthenticate(self, account: Account, raw_proof: Any, request: RequestInfo) -> None:
        if not isinstance(raw_proof, str) or not raw_proof or len(raw_proof) > MAX_PASSWORD_INPUT:
            raise InvalidRequest("Enter your password or a code.", field="proof")
        if account.password_hash and verify_password(account.password_hash, raw_proof):
            return
        factors = self.factor_set(account)
        if factors.has_factor and (totp.clean_code(raw_proof) or recovery.clean_code(raw_proof)):
            self._check(account, factors, raw_proof, request)
            return
        raise self.signin.count_failure(
            account,
            "wrong_password",
            request,
            message="That is not your password or a code of your second factor.",
            field="proof",
        )

    # --- an associate resets a partner's factors ------------------------------------------

    def reset(self, associate: Principal, raw_username: Any, request: RequestInfo) -> Account:
        """Forget a partner's second factor: audited, every session of every account of that address ends,
        the partner is mailed, and the next sign-in enrols again."""
        require_associate(associate, self.audit, request, "reset_second_factor")
        account = self.accounts.get(validate_username(raw_username))
        if account is None or account.role is not Role.PARTNER:
            raise NotFound("There is no business-partner account with this user name.")
        holders = [a for a in self.accounts.list_by_email(account.email) if a.status is not Status.TERMINATED]
        self.audit.record(
            AuditEvent.MFA_RESET,
            actor=associate.actor,
            request=request,
            account=account.username,
            reason="associate_request",
            detail={"accounts_signed_out": len(holders) or 1},
        )
        self.factors.remove(account.email)
        for holder in holders or [account]:
            self.accounts.end_all_sessions(holder.username)
        self.notifier.second_factor_reset(account)
        return self.accounts.require(account.username)
