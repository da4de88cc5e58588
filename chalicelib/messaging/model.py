"""Threads, messages, inbox entries and delivery records as Sealpost keeps them: ids,
participants, counts, times, sizes and ciphertext hashes only. Subjects, bodies, file names and
attachments live encrypted in S3 (``messaging.vault``). Stored by ``messaging.thread_store``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.dynamo import as_int

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_id() -> str:
    return secrets.token_hex(16)


def new_reference_code() -> str:
    """A short code people can read out on the phone; shown in notifications and in the portal."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"SP-{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True)
class StoredObject:
    """One ciphertext object in the message store, as the record remembers it."""

    key: str
    sha256: str
    size: int

    def to_item(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredObject:
        return cls(key=item["key"], sha256=item["sha256"], size=as_int(item["size"]))


@dataclass(frozen=True)
class Thread:
    thread_id: str
    reference_code: str
    created_at: str
    created_by: str
    participants: tuple[str, ...]
    associates: tuple[str, ...]
    interaction_count: int
    max_interactions: int
    last_activity_at: str
    subject: StoredObject
    predecessor_id: str | None = None
    successor_id: str | None = None

    @property
    def is_full(self) -> bool:
        return self.interaction_count >= self.max_interactions

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": "THREAD#" + self.thread_id,
            "sk": "META",
            "thread_id": self.thread_id,
            "reference_code": self.reference_code,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "participants": list(self.participants),
            "associates": list(self.associates),
            "interaction_count": self.interaction_count,
            "max_interactions": self.max_interactions,
            "last_activity_at": self.last_activity_at,
            "subject": self.subject.to_item(),
        }
        if self.predecessor_id:
            item["predecessor_id"] = self.predecessor_id
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Thread:
        return cls(
            thread_id=item["thread_id"],
            reference_code=item["reference_code"],
            created_at=item["created_at"],
            created_by=item["created_by"],
            participants=tuple(item["participants"]),
            associates=tuple(item["associates"]),
            interaction_count=as_int(item["interaction_count"]),
            max_interactions=as_int(item["max_interactions"]),
            last_activity_at=item["last_activity_at"],
            subject=StoredObject.from_item(item["subject"]),
            predecessor_id=item.get("predecessor_id"),
            successor_id=item.get("successor_id"),
        )


@dataclass(frozen=True)
class AttachmentRecord:
    attachment_id: str
    stored: StoredObject

    def to_item(self) -> dict[str, Any]:
        return {"attachment_id": self.attachment_id, **self.stored.to_item()}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AttachmentRecord:
        return cls(attachment_id=item["attachment_id"], stored=StoredObject.from_item(item))


@dataclass(frozen=True)
class MessageRecord:
    thread_id: str
    message_id: str
    seq: int
    sender: str
    sender_role: str
    created_at: str
    content: StoredObject
    attachments: tuple[AttachmentRecord, ...] = ()
    opened_by: dict[str, str] = field(default_factory=dict)

    def to_item(self) -> dict[str, Any]:
        return {
            "pk": "THREAD#" + self.thread_id,
            "sk": f"MSG#{self.seq:03d}",
            "thread_id": self.thread_id,
            "message_id": self.message_id,
            "seq": self.seq,
            "sender": self.sender,
            "sender_role": self.sender_role,
            "created_at": self.created_at,
            "content": self.content.to_item(),
            "attachments": [a.to_item() for a in self.attachments],
            "opened_by": dict(self.opened_by),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MessageRecord:
        return cls(
            thread_id=item["thread_id"],
            message_id=item["message_id"],
            seq=as_int(item["seq"]),
            sender=item["sender"],
            sender_role=item["sender_role"],
            created_at=item["created_at"],
            content=StoredObject.from_item(item["content"]),
            attachments=tuple(AttachmentRecord.from_item(a) for a in item.get("attachments", [])),
            opened_by=dict(item.get("opened_by", {})),
        )

    def attachment(self, attachment_id: str) -> AttachmentRecord | None:
        return next((a for a in self.attachments if a.attachment_id == attachment_id), None)


@dataclass(frozen=True)
class InboxEntry:
    username: str
    thread_id: str
    reference_code: str
    role: str
    associates: tuple[str, ...]
    interaction_count: int
    max_interactions: int
    last_activity_at: str
    read_count: int = 0
    hidden: bool = False

    @property
    def unread(self) -> bool:
        return self.read_count < self.interaction_count

    def to_item(self) -> dict[str, Any]:
        return {
            "pk": "USER#" + self.username,
            "sk": "THREAD#" + self.thread_id,
            "username": self.username,
            "thread_id": self.thread_id,
            "reference_code": self.reference_code,
            "role": self.role,
            "associates": list(self.associates),
            "interaction_count": self.interaction_count,
            "max_interactions": self.max_interactions,
            "last_activity_at": self.last_activity_at,
            "read_count": self.read_count,
            "hidden": self.hidden,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> InboxEntry:
        return cls(
            username=item["username"],
            thread_id=item["thread_id"],
            reference_code=item["reference_code"],
            role=item["role"],
            associates=tuple(item.get("associates", [])),
            interaction_count=as_int(item["interaction_count"]),
            max_interactions=as_int(item["max_interactions"]),
            last_activity_at=item["last_activity_at"],
            read_count=as_int(item.get("read_count")),
            hidden=bool(item.get("hidden", False)),
        )


class DeliveryState(StrEnum):
    PORTAL = "portal"  # an associate: shown in their Sealpost inbox (and notified)
    PICKUP_NOTIFIED = "pickup_notified"  # an outside recipient: notification with a pickup link sent
    NOTIFICATION_FAILED = "notification_failed"
    SENT_TLS = "sent_tls"  # delivered to the recipient's own mailbox over enforced TLS
    BOUNCED = "bounced"  # the TLS-required send bounced; a pickup link follows


@dataclass(frozen=True)
class Delivery:
    thread_id: str
    seq: int
    username: str
    state: DeliveryState
    at: str
    reason: str = ""

    def to_item(self) -> dict[str, Any]:
        return {
            "pk": "THREAD#" + self.thread_id,
            "sk": f"DELIVERY#{self.seq:03d}#{self.username}",
            "thread_id": self.thread_id,
            "seq": self.seq,
            "username": self.username,
            "state": str(self.state),
            "at": self.at,
            "reason": self.reason,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Delivery:
        return cls(
            thread_id=item["thread_id"],
            seq=as_int(item["seq"]),
            username=item["username"],
            state=DeliveryState(item["state"]),
            at=item["at"],
            reason=item.get("reason", ""),
        )


BLOCK_LOG_DAYS = 90


@dataclass(frozen=True)
class BlockedAttempt:
    """A partner's attempt to write to addresses outside the plan (R5), as the domain filter saw it."""

    username: str
    at: str
    blocked_count: int
    domains: tuple[str, ...]
    strikes: int
    terminated: bool

    def to_item(self, expires_at: int) -> dict[str, Any]:
        return {
            "pk": "FILTER#BLOCKED",
            "sk": f"{self.at}#{self.username}#{secrets.token_hex(4)}",
            "username": self.username,
            "at": self.at,
            "blocked_count": self.blocked_count,
            "domains": list(self.domains),
            "strikes": self.strikes,
            "terminated": self.terminated,
            "expires_at": expires_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> BlockedAttempt:
        return cls(
            username=item["username"],
            at=item["at"],
            blocked_count=as_int(item.get("blocked_count")),
            domains=tuple(item.get("domains", [])),
            strikes=as_int(item.get("strikes")),
            terminated=bool(item.get("terminated", False)),
        )
