"""The audit trail: one JSON-lines object per security-relevant event in the audit bucket.

A record holds ids and outcomes only, never a password, token, subject or message
text. Writing is fail-closed: when the record cannot be stored, ``AuditUnavailable``
is raised and the caller must not carry out the operation.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib import clock, metrics
from chalicelib.errors import AuditUnavailable

log = logging.getLogger(__name__)

# Objects are spread over this many shards inside each hour so that a busy hour does
# not concentrate its writes on one S3 prefix.
SHARDS = 16
RECORDS_PREFIX = "records/"


class AuditEvent(StrEnum):
    """Every security-relevant event. Names are ``area.what_happened``; README lists what each means."""

    # sign-in and sessions
    SIGNIN_SUCCEEDED = "signin.succeeded"
    SIGNIN_FAILED = "signin.failed"
    SIGNED_OUT = "session.signed_out"
    SESSIONS_REVOKED = "session.revoked_all"
    SESSION_EXPIRED = "session.expired"
    SESSION_ENDED = "session.ended"  # one session: a partner's by an associate (ASVS 7.4.5), or one's own (7.5.2)
    # A break-glass (emergency access) account signed in: written with signin.succeeded, the signal to review.
    BREAK_GLASS_SIGNIN = "signin.break_glass"
    # One network address used up its failure budget (accounts.source_budget): its attempts are refused
    # for the rest of the window. Written once per address and window, when the first one is refused.
    SIGNIN_THROTTLED = "signin.throttled"
    # the second factor (chalicelib/mfa): per mail address, so one record names the account that did it
    MFA_ENROLLED = "mfa.enrolled"  # a TOTP app or a passkey set up (reason first, replaced or added)
    MFA_REMOVED = "mfa.removed"  # the holder removed their factors (MfaPolicy optional or off) or a passkey
    MFA_RECOVERY_CODES_ISSUED = "mfa.recovery_codes_issued"  # ten new codes shown once; older ones stop working
    MFA_RECOVERY_CODE_USED = "mfa.recovery_code_used"
    MFA_RESET = "mfa.reset"  # an associate reset a partner's factors: sessions ended, partner mailed
    # accounts
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_UNLOCKED = "account.unlocked"
    ACCOUNT_TERMINATED = "account.terminated"
    ACCOUNT_REENABLED = "account.reenabled"  # a disabled associate invited again, with no password kept
    # An account tied to an OpenID provider's identity (issuer + subject) at its first sign-in there.
    ACCOUNT_LINKED = "account.linked"
    # An associate became or stopped being an administrator (the provider's admin group).
    ACCOUNT_ROLE_CHANGED = "account.role_changed"
    # operations
    TABLE_RESTORED = "admin.table_restored"  # a table made again what a restored copy of it holds
    QUEUE_REDRIVEN = "admin.queue_redriven"  # a mail function's dead letters sent back to its queue
    # passwords (event names, not passwords)
    PASSWORD_SET = "password.set"  # noqa: S105 - the first password, chosen from an invitation or pickup link
    PASSWORD_CHANGED = "password.changed"  # noqa: S105
    PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105
    PASSWORD_RESET_COMPLETED = "password.reset_completed"  # noqa: S105
    # pickup links
    PICKUP_LINK_SENT = "pickup.link_sent"
    PICKUP_NEW_LINK_REQUESTED = "pickup.new_link_requested"
    # threads and messages
    THREAD_CREATED = "thread.created"
    THREAD_REMOVED_FROM_VIEW = "thread.removed_from_view"
    MESSAGE_SENT = "message.sent"
    MESSAGE_TLS_DECIDED = "message.tls_decided"
    MESSAGE_DELIVERED_TLS = "message.delivered_tls"
    MESSAGE_NOTIFICATION_SENT = "message.notification_sent"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_OPENED = "message.opened"
    MESSAGE_DOWNLOADED = "message.downloaded"
    MESSAGE_DOWNLOAD_GRANTED = "message.download_granted"  # a minute-long grant to stream an attachment
    MESSAGE_REPLIED = "message.replied"
    # mail policy
    FILTER_BLOCKED = "filter.blocked"
    FILTER_STRIKE = "filter.strike"
    INBOUND_SENDER_REFUSED = "mail.sender_refused"
    INBOUND_MAIL_REFUSED = "mail.refused"  # malformed or over the limits; the sender gets a notice
    # integrity and access
    TAMPER_DETECTED = "integrity.tamper_detected"
    ACCESS_DENIED = "access.denied"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


# The CloudWatch metric each event counts (EMF, chalicelib/metrics.py); infra/template.yaml alarms on them.
# Events that only count when they succeeded: a notice that could not be sent is no notice sent.
METRICS: Mapping[AuditEvent, str] = {
    AuditEvent.SIGNIN_SUCCEEDED: "SignInSucceeded",
    AuditEvent.SIGNIN_FAILED: "SignInFailed",
    AuditEvent.ACCOUNT_LOCKED: "AccountLocked",
    AuditEvent.BREAK_GLASS_SIGNIN: "BreakGlassSignIn",
    AuditEvent.MFA_RESET: "MfaReset",
    AuditEvent.MESSAGE_SENT: "MessageSent",
    AuditEvent.MESSAGE_DELIVERED_TLS: "DeliveredOverTls",
    AuditEvent.MESSAGE_NOTIFICATION_SENT: "PickupNoticeSent",
    AuditEvent.PICKUP_LINK_SENT: "PickupNoticeSent",
    AuditEvent.MESSAGE_BOUNCED: "DeliveryBounced",
    AuditEvent.INBOUND_MAIL_REFUSED: "MailRefused",
    AuditEvent.INBOUND_SENDER_REFUSED: "MailRefused",
    AuditEvent.ACCESS_DENIED: "AccessDenied",
    AuditEvent.TAMPER_DETECTED: "TamperDetected",
}
COUNTED_ON_SUCCESS_ONLY = frozenset(
    {
        AuditEvent.MESSAGE_SENT,
        AuditEvent.MESSAGE_DELIVERED_TLS,
        AuditEvent.MESSAGE_NOTIFICATION_SENT,
        AuditEvent.PICKUP_LINK_SENT,
    }
)


def metric_for(event: AuditEvent, outcome: Outcome) -> str | None:
    """The metric an audited event counts, or None."""
    if event in COUNTED_ON_SUCCESS_ONLY and outcome is not Outcome.SUCCESS:
        return None
    return METRICS.get(event)


@dataclass(frozen=True)
class Actor:
    """Who did it: an account's user name and role, or an anonymous visitor, or the system."""

    id: str
    role: str

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(id="anonymous", role="anonymous")

    @classmethod
    def system(cls, name: str = "sealpost") -> Actor:
        return cls(id=name, role="system")


@dataclass(frozen=True)
class RequestInfo:
    """Where it came from. Filled by the web layer; ``system()`` for scheduled or mail events."""

    request_id: str
    source_ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls) -> RequestInfo:
        return cls(request_id=f"system-{uuid.uuid4()}")


# The record's columns, in order, with their Athena types: the one definition of the record.
# The Glue table in infra/template.yaml lists the same columns (tests/test_infra.py holds them equal).
RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "string"),
    ("event", "string"),
    ("outcome", "string"),
    ("actor", "string"),
    ("actor_role", "string"),
    ("account", "string"),
    ("thread_id", "string"),
    ("message_id", "string"),
    ("reason", "string"),
    ("request_id", "string"),
    ("source_ip", "string"),
    ("user_agent", "string"),
    ("detail", "map<string,string>"),
)

# Detail keys are chosen by code, never by users; this guards against a future caller
# passing something secret by mistake.
_FORBIDDEN_DETAIL_KEY = re.compile(r"pass|token|secret|body|subject|text|content|cookie", re.I)
_MAX_USER_AGENT = 512


@dataclass(frozen=True)
class AuditRecord:
    time: datetime
    event: AuditEvent
    outcome: Outcome
    actor: Actor
    request: RequestInfo
    account: str | None = None
    thread_id: str | None = None
    message_id: str | None = None
    reason: str | None = None
    detail: Mapping[str, str | int | bool] | None = None

    def to_json(self) -> dict[str, Any]:
        detail = {k: str(v) for k, v in (self.detail or {}).items()}
        return {
            "time": clock.iso(self.time),
            "event": str(self.event),
            "outcome": str(self.outcome),
            "actor": self.actor.id,
            "actor_role": self.actor.role,
            "account": self.account,
            "thread_id": self.thread_id,
            "message_id": self.message_id,
            "reason": self.reason,
            "request_id": self.request.request_id,
            "source_ip": self.request.source_ip,
            "user_agent": (self.request.user_agent or "")[:_MAX_USER_AGENT] or None,
            "detail": detail,
        }


def record_key(record: AuditRecord, unique: str) -> str:
    """``records/dt=YYYY-MM-DD/hour=HH/shard=NN/<time>-<unique>.jsonl`` (Athena prunes by dt and hour)."""
    t = record.time
    shard = int(unique[:8], 16) % SHARDS
    return f"{RECORDS_PREFIX}dt={t:%Y-%m-%d}/hour={t:%H}/shard={shard:02d}/{t:%Y%m%dT%H%M%S%f}Z-{unique}.jsonl"


@dataclass(frozen=True)
class AuditLog:
    """Writes audit records to the audit bucket (Object Lock keeps them for the retention period), then
    counts the event's metric (``METRICS``) through ``count_metric``, best effort."""

    bucket: str
    kms_key_arn: str
    s3_factory: Callable[[], Any]
    count_metric: Callable[[str], None] = metrics.count

    def record(
        self,
        event: AuditEvent,
        *,
        actor: Actor,
        request: RequestInfo,
        outcome: Outcome = Outcome.SUCCESS,
        account: str | None = None,
        thread_id: str | None = None,
        message_id: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, str | int | bool] | None = None,
    ) -> AuditRecord:
        for key in detail or {}:
            if _FORBIDDEN_DETAIL_KEY.search(key):
                raise ValueError(f"audit detail key {key!r} could hold a secret")
        entry = AuditRecord(
            time=clock.now(),
            event=event,
            outcome=outcome,
            actor=actor,
            request=request,
            account=account,
            thread_id=thread_id,
            message_id=message_id,
            reason=reason,
            detail=detail,
        )
        body = (json.dumps(entry.to_json(), separators=(",", ":"), sort_keys=True) + "\n").encode()
        key = record_key(entry, uuid.uuid4().hex)
        try:
            self.s3_factory().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/x-ndjson",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.kms_key_arn,
            )
        except Exception as exc:  # any failure to store the record denies the operation
            log.error("audit write failed", extra={"event": str(event), "error": type(exc).__name__})
            raise AuditUnavailable() from None
        metric = metric_for(event, outcome)
        if metric is not None:
            try:
                self.count_metric(metric)
            except Exception as exc:  # metrics are best effort; the record is stored, the operation goes on
                log.warning("metric not emitted", extra={"metric": metric, "error": type(exc).__name__})
        return entry
