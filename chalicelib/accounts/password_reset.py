"""Forgot password (R9): a self-service reset by a single-use link valid for ten minutes.

The answer to a request is the same whether or not an account matches, and so is the time it
takes: ``request`` checks the identifier's shape and puts one message on the ``account-mail``
queue, without looking any account up, so a request makes the same AWS calls either way. The
worker behind the queue (``reset_mailer.PasswordResetMailer``) matches the accounts, applies the
interval, issues the link, mails and audits it. Setting the new password ends every session and
mails a notice. A reset lifts a lock only when the deployment enables self-service unlock, and never
a lock that wrong second-factor codes helped to reach (``LockCause.SECOND_FACTOR``): knowing the
mailbox and the new password must not open a way around the second factor; an associate unlocks it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.credentials import CredentialService
from chalicelib.accounts.model import Account, LockCause, Status
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose, TokenStore
from chalicelib.audit.records import AuditEvent, AuditLog, RequestInfo
from chalicelib.dynamo import unavailable_on_outage
from chalicelib.errors import ConfigurationError, InvalidRequest, LinkNotValid
from chalicelib.settings import Settings

RESET_TTL_SECONDS = 10 * 60
# One reset mail per account per minute at most: no mail bombing through this form.
MIN_INTERVAL_SECONDS = 60
MAX_IDENTIFIER = 254
# The kind of an account-mail message (the queue may carry other account mail later).
RESET_REQUESTED = "password_reset"


@dataclass(frozen=True)
class AccountMailQueue:
    """The ``account-mail`` SQS queue (SSE-KMS): the API sends, ``send_account_mail`` receives."""

    queue_url: str
    sqs_factory: Callable[[], Any]

    def send(self, message: Mapping[str, Any]) -> None:
        if not self.queue_url:
            raise ConfigurationError("SEALPOST_ACCOUNT_MAIL_QUEUE is not set")
        with unavailable_on_outage("account-mail queue"):
            self.sqs_factory().send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message, sort_keys=True))


def reset_request_message(identifier: str, request: RequestInfo) -> dict[str, Any]:
    """What the worker needs: the identifier as typed (never logged) and where the request came from."""
    return {
        "kind": RESET_REQUESTED,
        "identifier": identifier,
        "request_id": request.request_id,
        "source_ip": request.source_ip,
        "user_agent": request.user_agent,
        "at": clock.epoch_seconds(),
    }


@dataclass(frozen=True)
class PasswordReset:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    credentials: CredentialService
    queue: AccountMailQueue
    audit: AuditLog

    def request(self, raw_identifier: Any, request: RequestInfo) -> None:
        """Queue the request for the mailer; says nothing, and costs the same, whether or not an account matches."""
        if not isinstance(raw_identifier, str) or not raw_identifier.strip():
            raise InvalidRequest("Enter your user name or mail address.", field="identifier")
        if len(raw_identifier) > MAX_IDENTIFIER:
            raise InvalidRequest("That is too long for a user name or mail address.", field="identifier")
        self.queue.send(reset_request_message(raw_identifier.strip(), request))

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
        lock = account.lock_cause(self.settings.lockout_threshold)
        unlocks = lock is LockCause.PASSWORD and self.settings.self_service_unlock
        self.audit.record(
            AuditEvent.PASSWORD_RESET_COMPLETED,
            actor=account.actor,
            request=request,
            account=account.username,
            detail={"lock": str(lock), "lock_lifted": unlocks} if lock else None,
        )
        self.tokens.consume(secret, TokenPurpose.RESET)
        self.credentials.set_new_password(account, raw_password, raw_confirmation)
        if unlocks:
            self.audit.record(
                AuditEvent.ACCOUNT_UNLOCKED,
                actor=account.actor,
                request=request,
                account=account.username,
                reason="self_service_reset",
            )
            self.accounts.unlock(account.username, "self-service-reset")
        return self.accounts.require(account.username)
