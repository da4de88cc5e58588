"""The worker behind the forgot-password form (``send_account_mail``, fed by the ``account-mail`` queue).

``password_reset.PasswordReset.request`` only queues what the person typed, so the answer costs the
same whether or not an account matches. Here each request is matched (a user name, or a mail address
with every account of it), refused for terminated, unregistered and break-glass accounts, held to one
mail per account per minute, and answered with a single-use link; every outcome is audited with the
request's own id and source address, as the form's request would have been.

SQS delivers at least once. A claim per request and one per account (``Claims``: the gateway
table's idempotency claims, keyed by the request id) make a repeat of a handled record a no-op, and
the interval remembers which request set it, so the retry of a failed mail still sends it. A mail SES
refuses fails the record (``MailNotSent``): SQS hands it out again, and after five receives it waits
in ``<stack>-account-mail-dlq`` for ``sealpost-admin redrive account-mail``. What the person typed is
never logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import logs
from chalicelib.accounts.model import Account, Status, normalize_username
from chalicelib.accounts.password_reset import MAX_IDENTIFIER, MIN_INTERVAL_SECONDS, RESET_REQUESTED, RESET_TTL_SECONDS
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose, TokenStore
from chalicelib.addresses import validate_email
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import InvalidRequest
from chalicelib.invocation import Deadline
from chalicelib.mail.mailer import MailNotSent
from chalicelib.mail.notices import Notifier

log = logging.getLogger(__name__)


class Claims(Protocol):
    """Exactly-once claims (``gateway.idempotency.Idempotency``)."""

    def claim(self, *parts: str, until: int | None = None) -> bool: ...

    def done(self, *parts: str) -> None: ...

    def release(self, *parts: str) -> None: ...


@dataclass(frozen=True)
class ResetRequest:
    identifier: str
    request: RequestInfo

    @classmethod
    def read(cls, body: str) -> ResetRequest | None:
        """The queued request, or None when the body is not one (it is dropped: a retry cannot mend it)."""
        try:
            message = json.loads(body)
            identifier, request_id = message["identifier"], message["request_id"]
        except (ValueError, KeyError, TypeError):
            return None
        if message.get("kind") != RESET_REQUESTED or not isinstance(identifier, str) or not isinstance(request_id, str):
            return None
        if not identifier.strip() or len(identifier) > MAX_IDENTIFIER or not request_id:
            return None
        source_ip, user_agent = message.get("source_ip"), message.get("user_agent")
        return cls(
            identifier.strip(),
            RequestInfo(
                request_id=request_id,
                source_ip=source_ip if isinstance(source_ip, str) else None,
                user_agent=user_agent if isinstance(user_agent, str) else None,
            ),
        )


@dataclass(frozen=True)
class PasswordResetMailer:
    accounts: AccountRepository
    tokens: TokenStore
    notifier: Notifier
    claims: Claims
    audit: AuditLog

    def handle(self, body: str, deadline: Deadline | None = None) -> dict[str, Any]:
        """One queued request; returns what was done per account (user names only, for logs and tests)."""
        wanted = ResetRequest.read(body)
        if wanted is None:
            log.warning("ignored an account-mail record that is no reset request")
            return {"done": "ignored"}
        request_id = wanted.request.request_id
        until = (deadline or Deadline.unknown()).epoch_seconds()
        with logs.bound(request_id=request_id):  # the form's request: its API log lines carry the same id
            if not self.claims.claim("account-mail", request_id, until=until):
                return {"done": "already_handled"}
            try:
                outcomes = self._answer(wanted, until)
            except Exception:
                self.claims.release("account-mail", request_id)
                raise
            self.claims.done("account-mail", request_id)
        return {"done": "handled", "accounts": outcomes}

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

    def _answer(self, wanted: ResetRequest, until: int) -> dict[str, str]:
        matches = self._matching(wanted.identifier)
        if not matches:
            self._record(None, Outcome.FAILURE, "unknown_account", wanted.request)
        outcomes: dict[str, str] = {}
        failed: MailNotSent | None = None
        for account in matches:
            try:
                outcomes[account.username] = self._one(account, wanted.request, until)
            except MailNotSent as not_sent:
                # The others still get theirs; the record fails afterwards, and its retry sends this one only.
                outcomes[account.username], failed = "mail_not_sent", not_sent
        if failed is not None:
            raise failed
        return outcomes

    def _one(self, account: Account, request: RequestInfo, until: int) -> str:
        if account.status is Status.TERMINATED or not account.password_hash:
            return self._record(account, Outcome.FAILURE, "not_eligible", request)
        if account.break_glass:
            # A mailbox must not replace the sealed passphrase (accounts.break_glass).
            return self._record(account, Outcome.FAILURE, "break_glass", request)
        parts = ("reset-mail", request.request_id, account.username)
        if not self.claims.claim(*parts, until=until):
            return "already_mailed"
        try:
            if not self.accounts.note_reset_request(account.username, MIN_INTERVAL_SECONDS, request.request_id):
                outcome = self._record(account, Outcome.FAILURE, "too_soon", request)
            else:
                issued = self.tokens.issue(TokenPurpose.RESET, account.username, RESET_TTL_SECONDS)
                self._record(account, Outcome.SUCCESS, None, request)
                self.tokens.save(issued)
                if not self.notifier.reset_link(account, issued.secret, RESET_TTL_SECONDS // 60):
                    raise MailNotSent()
                outcome = "mailed"
        except Exception:
            self.claims.release(*parts)
            raise
        self.claims.done(*parts)
        return outcome

    def _record(self, account: Account | None, outcome: Outcome, reason: str | None, request: RequestInfo) -> str:
        self.audit.record(
            AuditEvent.PASSWORD_RESET_REQUESTED,
            actor=Actor.anonymous(),
            request=request,
            outcome=outcome,
            account=account.username if account else None,
            reason=reason,
        )
        return reason or "mailed"
