"""Forgot password (R9): a self-service reset by a single-use link valid for ten minutes.

The answer to a request is the same whether or not an account matches. Setting the new
password ends every session and mails a notice. A reset lifts a lock only when the
deployment enables self-service unlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.credentials import CredentialService
from chalicelib.accounts.model import Account, Status, normalize_username
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose, TokenStore
from chalicelib.addresses import validate_email
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import InvalidRequest, LinkNotValid
from chalicelib.mail.notices import Notifier
from chalicelib.settings import Settings

RESET_TTL_SECONDS = 10 * 60
# One reset mail per account per minute at most: no mail bombing through this form.
MIN_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class PasswordReset:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    credentials: CredentialService
    notifier: Notifier
    audit: AuditLog

    def _matching(self, identifier: str) -> list[Account]:
        if "@" in identifier:
            try:
                email = validate_email(identifier, "identifier")
            except InvalidRequest:
                email = None
            by_email = self.accounts.list_by_email(email) if email else []
            if by_email:
                return by_email
        account = self.accounts.get(normalize_username(identifier))
        return [account] if account else []

    def request(self, raw_identifier: Any, request: RequestInfo) -> None:
        """Mail a reset link to every matching account; says nothing about whether there was one."""
        if not isinstance(raw_identifier, str) or not raw_identifier.strip():
            raise InvalidRequest("Enter your user name or mail address.", field="identifier")
        if len(raw_identifier) > 254:
            raise InvalidRequest("That is too long for a user name or mail address.", field="identifier")
        matches = self._matching(raw_identifier.strip())
        if not matches:
            self._record_request(None, Outcome.FAILURE, "unknown_account", request)
        for account in matches:
            if account.status is Status.TERMINATED or not account.password_hash:
                self._record_request(account, Outcome.FAILURE, "not_eligible", request)
                continue
            if account.break_glass:
                # A mailbox must not replace the sealed passphrase (accounts.break_glass).
                self._record_request(account, Outcome.FAILURE, "break_glass", request)
                continue
            if not self.accounts.note_reset_request(account.username, MIN_INTERVAL_SECONDS):
                self._record_request(account, Outcome.FAILURE, "too_soon", request)
                continue
            issued = self.tokens.issue(TokenPurpose.RESET, account.username, RESET_TTL_SECONDS)
            self._record_request(account, Outcome.SUCCESS, None, request)
            self.tokens.save(issued)
            # The same answer either way; the audit record shows the request.
            self.notifier.reset_link(account, issued.secret, RESET_TTL_SECONDS // 60)

    def _record_request(
        self, account: Account | None, outcome: Outcome, reason: str | None, request: RequestInfo
    ) -> None:
        self.audit.record(
            AuditEvent.PASSWORD_RESET_REQUESTED,
            actor=Actor.anonymous(),
            request=request,
            outcome=outcome,
            account=account.username if account else None,
            reason=reason,
        )

    def account_for(self, secret: str) -> Account:
        token = self.tokens.peek(secret, TokenPurpose.RESET)
        account = self.accounts.get(token.username)
        if account is None or account.status is Status.TERMINATED:
            raise LinkNotValid()
        return account

    def complete(self, secret: str, raw_password: Any, raw_confirmation: Any, request: RequestInfo) -> Account:
        """Set the new password from a reset link. Returns the account as it is afterwards."""
        account = self.account_for(secret)
        self.credentials.check_new_password(account, raw_password, raw_confirmation)
        self.audit.record(
            AuditEvent.PASSWORD_RESET_COMPLETED, actor=account.actor, request=request, account=account.username
        )
        self.tokens.consume(secret, TokenPurpose.RESET)
        self.credentials.set_new_password(account, raw_password, raw_confirmation)
        if account.is_locked(self.settings.lockout_threshold) and self.settings.self_service_unlock:
            self.audit.record(
                AuditEvent.ACCOUNT_UNLOCKED,
                actor=account.actor,
                request=request,
                account=account.username,
                reason="self_service_reset",
            )
            self.accounts.unlock(account.username, "self-service-reset")
        return self.accounts.require(account.username)
