"""Server-side sessions.

The browser holds a random 256-bit token in a ``__Host-`` cookie; the sessions table
holds only its SHA-256. A session is valid while it is younger than the absolute
timeout, was used within the idle timeout, its account is active and unlocked, and
the account's ``session_generation`` still equals the one the session was born with:
bumping that number (sign out everywhere, password change, termination) ends every
session of the account at once.

A session has a ``stage``: ``full`` once sign-in is complete; ``factor`` when the password was
right and the second factor is still to be given; ``enrol`` when a second factor must be set up
first (``chalicelib/mfa``). ``resolve`` accepts only ``full``; ``resolve_pending`` serves the
factor and enrolment pages, for at most ``PENDING_SECONDS``. Completing the step ends the pending
session and starts a new one under a new token (``step_up``, ASVS 7.2.4).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import clock
from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import looks_like_token, token_hash
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, RequestInfo
from chalicelib.dynamo import as_int, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import AuthenticationRequired, NotFound, SessionExpired
from chalicelib.settings import Settings

COOKIE_NAME = "__Host-sealpost_session"
# Writing last_seen on every request would double the writes; a minute of slack
# on a 15-minute idle timeout is fine.
_TOUCH_INTERVAL_SECONDS = 60
MAX_USER_AGENT = 200
FULL, FACTOR, ENROL = "full", "factor", "enrol"
PENDING_STAGES = (FACTOR, ENROL)
# A password sign-in waiting for its second factor (or its enrolment) lasts this long.
PENDING_SECONDS = 300


@dataclass(frozen=True)
class Session:
    token_hash: str
    username: str
    role: str
    generation: int
    created_at: int
    last_seen: int
    stage: str = FULL  # FULL, or a pending stage (FACTOR, ENROL) that only the second-factor pages accept
    method: str = "password"  # how the first step was made (password, registration, oidc)
    # What an associate sees of a partner's sessions (ASVS 7.4.5): a random id (never the token's
    # hash), the browser's user agent (cut to MAX_USER_AGENT) and the source address it started from.
    sid: str = ""
    user_agent: str = ""
    source_ip: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Session:
        return cls(
            token_hash=item["pk"],
            username=item["username"],
            role=item.get("role", "unknown"),
            generation=as_int(item["generation"]),
            created_at=as_int(item["created_at"]),
            last_seen=as_int(item["last_seen"]),
            stage=item.get("stage", FULL),
            method=item.get("method", "password"),
            sid=item.get("sid", ""),
            user_agent=item.get("ua", ""),
            source_ip=item.get("ip", ""),
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


class EnrolledFactors(Protocol):
    """Whether a mail address has a second factor enrolled (``chalicelib/mfa``'s ``FactorStore``)."""

    def has_factor(self, email: str) -> bool: ...


@dataclass(frozen=True)
class SessionService:
    settings: Settings
    table_factory: Callable[[], Any]
    accounts: AccountRepository
    audit: AuditLog
    # What the mail addresses have enrolled; None knows no factor (so MfaPolicy=required asks to enrol).
    factors: EnrolledFactors | None = None

    def first_stage(self, account: Account) -> str:
        """The stage a session starts in after the first step (password, registration, OIDC), by MfaPolicy.

        The break-glass account is exempt: its sealed passphrase is a single-use emergency credential,
        replaced after every use (``accounts.break_glass``), and a second factor held by one person would
        defeat the two-person seal.
        """
        policy = self.settings.mfa_policy
        if policy == "off" or account.break_glass:
            return FULL
        if self.factors is not None and self.factors.has_factor(account.email):
            return FACTOR
        return ENROL  # required: enrol before anything else; optional: offered, with a skip

    def start(
        self,
        account: Account,
        *,
        stage: str = FULL,
        method: str = "password",
        request: RequestInfo | None = None,
    ) -> tuple[str, Session]:
        """A new session for ``account``; returns the secret for the cookie and the session. A pending
        ``stage`` (FACTOR, ENROL) lasts ``PENDING_SECONDS`` and reaches only the second-factor pages."""
        secret = secrets.token_urlsafe(32)
        now = clock.epoch_seconds()
        session = Session(
            token_hash=token_hash(secret),
            username=account.username,
            role=str(account.role),
            generation=account.session_generation,
            created_at=now,
            last_seen=now,
            stage=stage,
            method=method,
            sid=secrets.token_urlsafe(12),
            user_agent=((request.user_agent if request else None) or "")[:MAX_USER_AGENT],
            source_ip=(request.source_ip if request else None) or "",
        )
        lifetime = self.settings.session_absolute_seconds if stage == FULL else PENDING_SECONDS
        with unavailable_on_outage("sessions"):
            self.table_factory().put_item(
                Item={
                    "pk": session.token_hash,
                    "username": session.username,
                    "role": session.role,
                    "generation": session.generation,
                    "created_at": now,
                    "last_seen": now,
                    "expires_at": now + lifetime,
                    "stage": stage,
                    "method": method,
                    "sid": session.sid,
                    "ua": session.user_agent,
                    "ip": session.source_ip,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        return secret, session

    def resolve(self, secret: str | None, request: RequestInfo) -> Principal:
        """The principal behind a session cookie, or ``AuthenticationRequired``."""
        if not secret:
            raise AuthenticationRequired()
        session = self._stored(secret)
        if session.stage != FULL:
            raise AuthenticationRequired()  # the second factor is still to come: only its own pages serve it
        now = clock.epoch_seconds()
        if now - session.created_at >= self.settings.session_absolute_seconds:
            self._expire(session, "absolute_timeout", request)
        if now - session.last_seen >= self.settings.session_idle_seconds:
            self._expire(session, "idle_timeout", request)
        account = self._account_of(session)
        if now - session.last_seen >= _TOUCH_INTERVAL_SECONDS:
            self._touch(session, now)
        return Principal(account=account, session=session, csrf_token=csrf_token_for(secret))

    def end(self, session: Session) -> None:
        self._delete(session.token_hash)

    def list_for(self, username: str) -> list[Session]:
        """The stored sessions of ``username``, newest first (index ``by_username``). Some may have ended
        already by a timeout or a generation change that ``resolve`` has not yet noticed."""
        sessions: list[Session] = []
        kwargs: dict[str, Any] = {
            "IndexName": "by_username",
            "KeyConditionExpression": "username = :u",
            "ExpressionAttributeValues": {":u": username},
            "ScanIndexForward": False,
        }
        with unavailable_on_outage("sessions"):
            while True:
                page = self.table_factory().query(**kwargs)
                sessions.extend(Session.from_item(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return sessions
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def end_one(self, username: str, sid: str) -> Session:
        """End the session ``sid`` of ``username``; ``NotFound`` when it has no such (stored) session."""
        found = next((s for s in self.list_for(username) if sid and s.sid == sid), None)  # an id, not a secret
        if found is None:
            raise NotFound("There is no such session; it may have ended already.")
        with unavailable_on_outage("sessions"):
            try:
                self.table_factory().delete_item(
                    Key={"pk": found.token_hash},
                    ConditionExpression="username = :u AND sid = :sid",
                    ExpressionAttributeValues={":u": username, ":sid": found.sid},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise NotFound("There is no such session; it may have ended already.") from None
                raise
        return found

    def live_for(self, account: Account, *, full_only: bool = False) -> list[Session]:
        """The stored sessions of ``account`` that ``resolve`` would still accept, newest first; with
        ``full_only``, without the pending ones (a second factor still to come). Ended ones (a timeout, a
        generation that moved on) wait for their TTL and are left out."""
        now = clock.epoch_seconds()
        settings = self.settings
        return [
            s
            for s in self.list_for(account.username)
            if s.generation == account.session_generation
            and now - s.created_at < settings.session_absolute_seconds
            and now - s.last_seen < settings.session_idle_seconds
            and (s.stage == FULL or not full_only)
        ]

    def end_live(
        self, account: Account, sid: str, *, actor: Actor, request: RequestInfo, reason: str, full_only: bool = False
    ) -> Session:
        """End the live session ``sid`` of ``account`` (one of ``live_for``; its browser must sign in
        again), audited as ``session.ended`` before it ends. ``NotFound`` when the account has no such
        session, which is what a session of another account answers too: nothing tells them apart."""
        if not sid or not any(s.sid == sid for s in self.live_for(account, full_only=full_only)):
            raise NotFound("There is no such session; it may have ended already.")
        self.audit.record(
            AuditEvent.SESSION_ENDED,
            actor=actor,
            request=request,
            account=account.username,
            reason=reason,
            detail={"session": sid},
        )
        return self.end_one(account.username, sid)

    def resolve_pending(self, secret: str | None) -> tuple[Account, Session]:
        """The account and session behind a pending (FACTOR or ENROL) session cookie, if it is younger
        than ``PENDING_SECONDS`` and its account may still sign in; else ``AuthenticationRequired``."""
        session = self._stored(secret)
        if session.stage not in PENDING_STAGES:
            raise AuthenticationRequired()
        if clock.epoch_seconds() - session.created_at >= PENDING_SECONDS:
            self._delete(session.token_hash)
            raise AuthenticationRequired()
        return self._account_of(session), session

    def _stored(self, secret: str | None) -> Session:
        """The session a cookie's secret names, or ``AuthenticationRequired``."""
        if not secret or not looks_like_token(secret):
            raise AuthenticationRequired()
        with unavailable_on_outage("sessions"):
            item = self.table_factory().get_item(Key={"pk": token_hash(secret)}, ConsistentRead=True).get("Item")
        if not item:
            raise AuthenticationRequired()
        return Session.from_item(item)

    def _account_of(self, session: Session) -> Account:
        """The session's account if it may still be signed in (active, unlocked, same generation); else the
        session is deleted and ``AuthenticationRequired`` raised."""
        account = self.accounts.get(session.username)
        if (
            account is None
            or account.status is not Status.ACTIVE
            or account.is_locked(self.settings.lockout_threshold)
            or account.session_generation != session.generation
        ):
            self._delete(session.token_hash)
            raise AuthenticationRequired()
        return account

    def step_up(self, pending: Session, account: Account) -> tuple[str, Session]:
        """End the pending session (once: a second use of it fails) and start a full one under a new
        token (ASVS 7.2.4): the token that waited for the second factor never becomes a signed-in one."""
        with unavailable_on_outage("sessions"):
            try:
                self.table_factory().delete_item(
                    Key={"pk": pending.token_hash},
                    ConditionExpression="attribute_exists(pk) AND #stage = :stage",
                    ExpressionAttributeNames={"#stage": "stage"},
                    ExpressionAttributeValues={":stage": pending.stage},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise AuthenticationRequired() from None
                raise
        # The same browser, from where the first step came.
        carried = RequestInfo("step-up", pending.source_ip or None, pending.user_agent or None)
        return self.start(account, method=pending.method, request=carried)

    # --- a passkey ceremony's challenge, kept on the session item it was offered to -------------

    def keep_challenge(self, session: Session, challenge: bytes) -> None:
        """Keep ``challenge`` on the session (a newer one replaces it); it ends with the session."""
        with unavailable_on_outage("sessions"):
            try:
                self.table_factory().update_item(
                    Key={"pk": session.token_hash},
                    UpdateExpression="SET webauthn_challenge = :challenge, challenge_at = :now",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":challenge": challenge, ":now": clock.epoch_seconds()},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise AuthenticationRequired() from None
                raise

    def take_challenge(self, session: Session, max_age_seconds: int) -> bytes | None:
        """The challenge kept on ``session``, removed in the same call (single use); None when there is
        none, or it is older than ``max_age_seconds``."""
        with unavailable_on_outage("sessions"):
            try:
                old = self.table_factory().update_item(
                    Key={"pk": session.token_hash},
                    UpdateExpression="REMOVE webauthn_challenge, challenge_at",
                    ConditionExpression="attribute_exists(webauthn_challenge)",
                    ReturnValues="UPDATED_OLD",
                )["Attributes"]
            except Exception as exc:
                if is_conditional_failure(exc):
                    return None
                raise
        if clock.epoch_seconds() - as_int(old.get("challenge_at")) > max_age_seconds:
            return None
        return bytes(getattr(old["webauthn_challenge"], "value", old["webauthn_challenge"]))

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
