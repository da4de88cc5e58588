"""Accounts: who can sign in (associates of the plan, business partners), and the rules for user
names and display names. Stored by ``accounts.store``."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib import clock
from chalicelib.audit.records import Actor
from chalicelib.dynamo import as_int
from chalicelib.errors import InvalidRequest
from chalicelib.limits import MAX_DISPLAY_NAME

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,127}$")


class Role(StrEnum):
    ASSOCIATE = "associate"
    PARTNER = "partner"


class Status(StrEnum):
    INVITED = "invited"  # created by an associate, no password chosen yet
    ACTIVE = "active"
    TERMINATED = "terminated"


class LockCause(StrEnum):
    """What the counted failures were, and so what a lock is by (``Account.lock_cause``)."""

    PASSWORD = "password"  # noqa: S105 (a cause, not a secret): wrong passwords only
    SECOND_FACTOR = "second_factor"  # at least one wrong second-factor code: a password reset never lifts it


def normalize_username(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def validate_username(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest("Enter your user name.", field="username")
    username = normalize_username(raw)
    if len(username) > 128 or not USERNAME_PATTERN.match(username):
        raise InvalidRequest("This is not a valid user name.", field="username")
    return username


def validate_display_name(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest("The name must be text.", field="display_name")
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidRequest(f"Use at most {MAX_DISPLAY_NAME} characters for the name.", field="display_name")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidRequest("The name contains characters that are not allowed.", field="display_name")
    return name


def guard_key(username: str, window_seconds: int) -> tuple[str, int]:
    """The guard item's key for ``username`` in the current window, and when that item expires."""
    window = clock.epoch_seconds() // window_seconds
    digest = hashlib.sha256(username.encode()).hexdigest()
    return f"GUARD#{digest}#{window}", (window + 2) * window_seconds


@dataclass(frozen=True)
class Account:
    username: str
    email: str
    role: Role
    status: Status
    display_name: str = ""
    password_hash: str | None = None
    failed_attempts: int = 0
    session_generation: int = 0
    created_at: str = ""
    created_by: str = ""
    thread_id: str | None = None
    strikes: int = 0
    # An emergency associate account (HIPAA 164.312(a)(2)(ii)), made by ``sealpost-admin
    # break-glass``: its passphrase is sealed, and every sign-in is audited on its own.
    break_glass: bool = False
    # An associate who manages accounts and policies: given by the OpenID provider's admin group
    # (chalicelib/identity), audited as account.role_changed when it changes.
    administrator: bool = False
    # The SHA-256 of the account's current invitation link, once an invitation was sent again (or the
    # account enabled again): ``credentials.invited_account`` takes no other invitation link.
    invitation_hash: str | None = None
    # The OpenID provider (``associates`` or ``partners``) an identity of which signs in to this account,
    # once one is linked (chalicelib/identity/links.py); when the last full sign-in was.
    linked_provider: str | None = None
    last_signin_at: str = ""
    # Written by each counted failure in the same update (``AccountRepository.count_failure``): a wrong
    # second-factor code sets ``second_factor``, a wrong password sets ``password`` only if it is unset;
    # removed when the counter is cleared or the account unlocked.
    failure_cause: LockCause | None = None

    def is_locked(self, threshold: int) -> bool:
        return self.failed_attempts >= threshold

    def lock_cause(self, threshold: int) -> LockCause | None:
        """What locked the account, or None when it is not locked (a lock from before causes were
        recorded counts as the password's)."""
        if not self.is_locked(threshold):
            return None
        return self.failure_cause or LockCause.PASSWORD

    @property
    def actor(self) -> Actor:
        return Actor(id=self.username, role=str(self.role))

    @property
    def is_associate(self) -> bool:
        return self.role is Role.ASSOCIATE

    @property
    def is_administrator(self) -> bool:
        """An active associate with the administrator flag: manages the plan's own accounts."""
        return self.is_associate and self.administrator is True and self.status is Status.ACTIVE

    def public_view(self, threshold: int) -> dict[str, Any]:
        """What associates may see about an account (no hash, no counters beyond the lock)."""
        return {
            "username": self.username,
            "email": self.email,
            "display_name": self.display_name,
            "role": str(self.role),
            "status": str(self.status),
            "locked": self.is_locked(threshold),
            "failed_attempts": self.failed_attempts,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "thread_id": self.thread_id,
            "strikes": self.strikes,
            "break_glass": self.break_glass,
            "administrator": self.administrator,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Account:
        return cls(
            username=item["username"],
            email=item["email"],
            role=Role(item["role"]),
            status=Status(item["status"]),
            display_name=item.get("display_name", ""),
            password_hash=item.get("password_hash"),
            failed_attempts=as_int(item.get("failed_attempts")),
            session_generation=as_int(item.get("session_generation")),
            created_at=item.get("created_at", ""),
            created_by=item.get("created_by", ""),
            thread_id=item.get("thread_id"),
            strikes=as_int(item.get("strikes")),
            break_glass=item.get("break_glass") is True,
            administrator=item.get("administrator") is True,
            invitation_hash=item.get("invitation_hash"),
            linked_provider=item.get("linked_provider"),
            last_signin_at=item.get("last_signin_at", ""),
            failure_cause=LockCause(item["failure_cause"]) if item.get("failure_cause") else None,
        )

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": "ACCOUNT#" + self.username,
            "kind": "account",
            "username": self.username,
            "email": self.email,
            "role": str(self.role),
            "status": str(self.status),
            "display_name": self.display_name,
            "failed_attempts": self.failed_attempts,
            "session_generation": self.session_generation,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }
        if self.password_hash:
            item["password_hash"] = self.password_hash
        if self.thread_id:
            item["thread_id"] = self.thread_id
        if self.break_glass:
            item["break_glass"] = True
        if self.administrator:
            item["administrator"] = True
        if self.invitation_hash:
            item["invitation_hash"] = self.invitation_hash
        if self.linked_provider:
            item["linked_provider"] = self.linked_provider
        return item
