"""Passkeys and security keys as a second factor: the sign-in step, registration (at enrolment or on
one's own security page), and removing one. The ceremonies themselves are ``mfa.passkeys``.

- Every page that offers a ceremony makes a new challenge and keeps it on the session item it is
  offered to (``SessionService.keep_challenge``); the answer takes it off in the same call, so a
  challenge is answered once, and only within the ceremony's timeout.
- A refused passkey at sign-in counts toward the account's one three-strike lock, like a wrong code.
- A use stores the new sign count under a condition on the old one (``FactorStore.record_passkey_use``):
  a cloned key, or two uses racing with one count, cannot both sign in.
- A signed-in person adds or removes a passkey only after their password or a code (ASVS 7.5.1), and
  is mailed about it. Under ``MfaPolicy=required`` the last factor cannot be removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import FACTOR, Principal, Session
from chalicelib.accounts.signin import SignedIn
from chalicelib.audit.records import AuditEvent, RequestInfo
from chalicelib.errors import AccessDenied, AuthenticationRequired, Conflict, InvalidRequest, NotFound
from chalicelib.mfa import passkeys
from chalicelib.mfa.factors import MAX_PASSKEYS, FactorSet
from chalicelib.mfa.passkeys import Passkey, PasskeyRefused, RelyingParty
from chalicelib.mfa.second_factor import Pending, SecondFactorService

# The challenge outlives the browser's own timeout a little (the person may take the whole of it).
CHALLENGE_SECONDS = passkeys.TIMEOUT_MS // 1000 + 30
NOT_ACCEPTED = "That passkey was not accepted. Try again, or use a code from your authenticator app or a recovery code."
EXPIRED = "The passkey request has expired. Try again."
REGISTRATION_PROBLEMS = {
    "too_many_passkeys": f"You already have {MAX_PASSKEYS} passkeys. Remove one before adding another.",
    "already_registered": "This passkey is already set up for your account.",
}
NOT_REGISTERED = "The passkey could not be set up. Try again, or set up an authenticator app instead."


def _answered(raw_credential: Any) -> Any:
    """The browser's answer, present (a missing one is a bad request, not a wrong factor)."""
    if not raw_credential or not isinstance(raw_credential, str | dict):
        raise InvalidRequest("The browser sent no passkey answer. Try again.", field="credential")
    return raw_credential


def registered(factors: FactorSet) -> list[Passkey]:
    """The passkeys of a factor set, as ceremonies take them."""
    return [Passkey.from_item(item) for item in factors.passkeys]


@dataclass(frozen=True)
class PasskeyFactor:
    second_factor: SecondFactorService  # the step's shared parts: the failure counter, step-up, proof

    @property
    def relying_party(self) -> RelyingParty:
        settings = self.second_factor.settings
        return RelyingParty.of_portal(settings.portal_url, settings.plan_name)

    def _registered(self, account: Account) -> tuple[FactorSet, list[Passkey]]:
        factors = self.second_factor.factor_set(account)
        return factors, registered(factors)

    def _challenge(self, session: Session) -> bytes:
        challenge = passkeys.new_challenge()
        self.second_factor.sessions.keep_challenge(session, challenge)
        return challenge

    # --- the sign-in step --------------------------------------------------------------------

    def sign_in_options(self, pending: Pending, factors: FactorSet) -> str | None:
        """The options for ``navigator.credentials.get`` (a new challenge), or None without passkeys.
        ``factors``: the address's, as the caller read them for the same page."""
        keys = registered(factors)
        if pending.stage != FACTOR or not keys:
            return None
        return passkeys.authentication_options(self.relying_party, keys, self._challenge(pending.session))

    def verify(self, pending: Pending, raw_credential: Any, request: RequestInfo) -> SignedIn:
        """The second step with a passkey: a full session when it signed this session's challenge."""
        if pending.stage != FACTOR:
            raise AuthenticationRequired()
        raw_credential = _answered(raw_credential)
        challenge = self.second_factor.sessions.take_challenge(pending.session, CHALLENGE_SECONDS)
        if challenge is None:
            raise Conflict(EXPIRED)
        account = pending.account
        factors, registered = self._registered(account)
        try:
            used = passkeys.verify_authentication(self.relying_party, raw_credential, challenge, registered)
        except PasskeyRefused as refused:
            raise self._refused(account, f"passkey_{refused.check}", request) from None
        before = next(p for p in registered if p.credential_id == used.credential_id)
        index = factors.passkey_index(used.credential_id)
        if index is None or not self.second_factor.factors.record_passkey_use(
            account.email, index, used.credential_id, before.sign_count, used.sign_count
        ):
            raise self._refused(account, "passkey_count_raced", request)
        self.second_factor.signin.succeeded(account, request, method=pending.session.method, second_factor="passkey")
        return self.second_factor.step_up(pending)

    def _refused(self, account: Account, reason: str, request: RequestInfo) -> Exception:
        return self.second_factor.counted_failure(account, reason, request, message=NOT_ACCEPTED, field="credential")

    # --- registration ------------------------------------------------------------------------

    def registration_options(self, account: Account, session: Session, factors: FactorSet) -> str:
        """The options for ``navigator.credentials.create`` (a new challenge kept on ``session``); the keys
        of ``factors`` (the address's, as the caller read them) are excluded."""
        return passkeys.registration_options(
            self.relying_party,
            # Not the address itself: the authenticator keeps the handle; it only has to be stable.
            user_handle=hashlib.sha256(account.email.lower().encode()).digest(),
            user_name=account.email,
            display_name=account.display_name or account.email,
            existing=registered(factors),
            challenge=self._challenge(session),
        )

    def register(self, account: Account, session: Session, raw_credential: Any, request: RequestInfo) -> bool:
        """Add the passkey the browser created for this session's challenge; True when it is the
        address's first factor, which makes its recovery codes due (shown next, once)."""
        raw_credential = _answered(raw_credential)
        challenge = self.second_factor.sessions.take_challenge(session, CHALLENGE_SECONDS)
        if challenge is None:
            raise Conflict(EXPIRED)
        factors, registered = self._registered(account)
        try:
            passkey = passkeys.verify_registration(self.relying_party, raw_credential, challenge, registered)
        except PasskeyRefused as refused:
            raise InvalidRequest(REGISTRATION_PROBLEMS.get(refused.check, NOT_REGISTERED), field="credential") from None
        first = not factors.has_factor
        self.second_factor.audit.record(
            AuditEvent.MFA_ENROLLED,
            actor=account.actor,
            request=request,
            account=account.username,
            reason="first" if first else "added",
            detail={"factor": "passkey", "keys_registered": len(registered) + 1},
        )
        if not self.second_factor.factors.add_passkey(account.email, passkey.to_item(), first_factor=first):
            raise Conflict(REGISTRATION_PROBLEMS["too_many_passkeys"])
        return first

    def add(self, principal: Principal, raw_proof: Any, raw_credential: Any, request: RequestInfo) -> bool:
        """A signed-in person adds a passkey: their password or a code first when a factor exists.
        True when it is their first factor (its recovery codes are due)."""
        account = principal.account
        if self.second_factor.factor_set(account).has_factor:
            self.second_factor.reauthenticate(account, raw_proof, request)
        first = self.register(account, principal.session, raw_credential, request)
        self.second_factor.notifier.factors_changed(account, "passkey_added")
        return first

    # --- removing one ------------------------------------------------------------------------

    def remove(self, principal: Principal, raw_credential_id: Any, raw_proof: Any, request: RequestInfo) -> None:
        """Remove one of one's passkeys, after the password or a code. Under MfaPolicy=required the
        last factor stays (replace it, or add another first)."""
        account = principal.account
        factors = self.second_factor.factor_set(account)
        index = factors.passkey_index(raw_credential_id) if isinstance(raw_credential_id, str) else None
        if index is None:
            raise NotFound("That passkey is not set up for your account.")
        if self.second_factor.settings.mfa_policy == "required" and not factors.has_totp and len(factors.passkeys) == 1:
            raise AccessDenied(
                "A second factor is required: add another passkey or an authenticator app before removing this one."
            )
        self.second_factor.reauthenticate(account, raw_proof, request)
        self.second_factor.audit.record(
            AuditEvent.MFA_REMOVED,
            actor=account.actor,
            request=request,
            account=account.username,
            reason="passkey",
            detail={"keys_left": len(factors.passkeys) - 1},
        )
        if not self.second_factor.factors.remove_passkey(account.email, index, str(raw_credential_id)):
            raise Conflict("Your passkeys changed meanwhile. Look at the list again.")
        self.second_factor.notifier.factors_changed(account, "passkey_removed")
