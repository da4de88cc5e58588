"""Server-side sessions.

The browser holds a random 256-bit token in a ``__Host-`` cookie; the sessions table
holds only its SHA-256. A session is valid while it is younger than the absolute
timeout, was used within the idle timeout, its account is active and unlocked, and
the account's ``session_generation`` still equals the one the session was born with:
bumping that number (sign out everywhere, password change, termination) ends every
session of the account at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import looks_like_token, token_hash
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, RequestInfo
from chalicelib.dynamo import as_int, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import AuthenticationRequired, SessionExpired
from chalicelib.settings import Settings

COOKIE_NAME = "__Host-sealpost_session"
# Writing last_seen on every request would double the writes; a minute of slack
# on a 15-minute idle timeout is fine.
_TOUCH_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class Session:
    token_hash: str
    username: str
    role: str
    generation: int
    created_at: int
    last_seen: int

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Session:
        return cls(
            token_hash=item["pk"],
            username=item["username"],
            role=item.get("role", "unknown"),
            generation=as_int(item["generation"]),
            created_at=as_int(item["created_at"]),
            last_seen=as_int(item["last_seen"]),
        )


@dataclass(frozen=True)
class Principal:
    """The signed-in account behind a request."""

    account: Account
    session: Session
    csrf_token: str

    @property
    def actor(self) -> Actor:
        return self.account.actor


def csrf_token_for(session_secret: str) -> str:
    """The anti-CSRF token bound to a session: derived from its secret, so it is never stored."""
    digest = hmac.new(session_secret.encode(), b"sealpost-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SessionService:
    settings: Settings
    table_factory: Callable[[], Any]
    accounts: AccountRepository
    audit: AuditLog

    def start(self, account: Account) -> tuple[str, Session]:
        """A new session for ``account``; returns the secret for the cookie and the session."""
        secret = secrets.token_urlsafe(32)
        now = clock.epoch_seconds()
        session = Session(
            token_hash=token_hash(secret),
            username=account.username,
            role=str(account.role),
            generation=account.session_generation,
            created_at=now,
            last_seen=now,
        )
        with unavailable_on_outage("sessions"):
            self.table_factory().put_item(
                Item={
                    "pk": session.token_hash,
                    "username": session.username,
                    "role": session.role,
                    "generation": session.generation,
                    "created_at": now,
                    "last_seen": now,
                    "expires_at": now + self.settings.session_absolute_seconds,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        return secret, session

    def resolve(self, secret: str | None, request: RequestInfo) -> Principal:
        """The principal behind a session cookie, or ``AuthenticationRequired``."""
        if not secret or not looks_like_token(secret):
            raise AuthenticationRequired()
        with unavailable_on_outage("sessions"):
            item = self.table_factory().get_item(Key={"pk": token_hash(secret)}, ConsistentRead=True).get("Item")
        if not item:
            raise AuthenticationRequired()
        session = Session.from_item(item)
        now = clock.epoch_seconds()
        if now - session.created_at >= self.settings.session_absolute_seconds:
            self._expire(session, "absolute_timeout", request)
        if now - session.last_seen >= self.settings.session_idle_seconds:
            self._expire(session, "idle_timeout", request)
        account = self.accounts.get(session.username)
        if (
            account is None
            or account.status is not Status.ACTIVE
            or account.is_locked(self.settings.lockout_threshold)
            or account.session_generation != session.generation
        ):
            self._delete(session.token_hash)
            raise AuthenticationRequired()
        if now - session.last_seen >= _TOUCH_INTERVAL_SECONDS:
            self._touch(session, now)
        return Principal(account=account, session=session, csrf_token=csrf_token_for(secret))

    def end(self, session: Session) -> None:
        self._delete(session.token_hash)

    def _expire(self, session: Session, reason: str, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.SESSION_EXPIRED,
            actor=Actor(id=session.username, role=session.role),
            request=request,
            account=session.username,
            reason=reason,
        )
        self._delete(session.token_hash)
        raise SessionExpired()

    def _delete(self, pk: str) -> None:
        with unavailable_on_outage("sessions"):
            self.table_factory().delete_item(Key={"pk": pk})

    def _touch(self, session: Session, now: int) -> None:
        with unavailable_on_outage("sessions"):
            try:
                self.table_factory().update_item(
                    Key={"pk": session.token_hash},
                    UpdateExpression="SET last_seen = :now",
                    ConditionExpression="attribute_exists(pk) AND last_seen < :now",
                    ExpressionAttributeValues={":now": now},
                )
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
