"""Threads, messages and inbox entries in DynamoDB. Ids, participants, counts, times, sizes and
ciphertext hashes only: subjects, bodies, file names and attachments live encrypted in S3.

Items of the threads table (partition key ``pk``, sort key ``sk``):

- ``THREAD#<id>`` / ``META``: the thread (participants, interaction count, links).
- ``THREAD#<id>`` / ``MSG#<seq>``: one message (seq 1..12), with the S3 keys, sizes and
  SHA-256 of its ciphertext objects, and who opened it when.
- ``USER#<username>`` / ``THREAD#<id>``: the thread in one participant's inbox, with the
  counts the inbox shows, how far they have read, and whether they removed it from view.
- ``THREAD#<id>`` / ``DELIVERY#<seq>#<username>``: how message ``seq`` reached one
  recipient (delivered in the portal, pickup link sent, sent over enforced TLS, bounced),
  with a reason code. Opened and replied come from the message records.
- ``FILTER#BLOCKED`` / ``<time>#<username>#<n>``: one attempt of a partner to write outside
  the plan's domains (R5), for the associates' domain-filter page; removed by TTL after
  ``BLOCK_LOG_DAYS``. Counts and domains only, never the addresses. The audit trail keeps
  the full record.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib import clock
from chalicelib.dynamo import TableStore, Transaction, as_int, is_conditional_failure, unavailable_on_outage

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _mail_id_key(mail_id: str) -> str:
    # Message-IDs can name hosts and people; only their hash is stored.
    return "MAILID#" + hashlib.sha256(mail_id.strip().strip("<>").lower().encode()).hexdigest()


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


@dataclass(frozen=True)
class ThreadRepository(TableStore):



    def client(self) -> Any:
        return self.table.meta.client

    # --- reads ------------------------------------------------------------------------

    def thread(self, thread_id: str) -> Thread | None:
        with unavailable_on_outage("threads"):
            item = self.table.get_item(Key={"pk": "THREAD#" + thread_id, "sk": "META"}, ConsistentRead=True).get(
                "Item"
            )
        return Thread.from_item(item) if item else None

    def messages(self, thread_id: str) -> list[MessageRecord]:
        return [MessageRecord.from_item(i) for i in self._query("THREAD#" + thread_id, "MSG#")]

    def deliveries(self, thread_id: str) -> list[Delivery]:
        return [Delivery.from_item(i) for i in self._query("THREAD#" + thread_id, "DELIVERY#")]

    def record_delivery(self, delivery: Delivery) -> None:
        """Store (or overwrite: a bounce replaces "sent over TLS") how a message reached a recipient."""
        with unavailable_on_outage("threads"):
            self.table.put_item(Item=delivery.to_item())

    def remember_mail_ids(self, thread_id: str, mail_ids: Iterable[str]) -> None:
        """Remember Message-IDs of mail about this thread, so that mail answering them joins it."""
        with unavailable_on_outage("threads"):
            for mail_id in mail_ids:
                self.table.put_item(Item={"pk": _mail_id_key(mail_id), "sk": "META", "thread_id": thread_id})

    def thread_for_mail_ids(self, mail_ids: Iterable[str]) -> str | None:
        """The thread the first known id belongs to (ids in the order they were answered)."""
        with unavailable_on_outage("threads"):
            for mail_id in mail_ids:
                item = self.table.get_item(Key={"pk": _mail_id_key(mail_id), "sk": "META"}).get("Item")
                if item:
                    return str(item["thread_id"])
        return None

    def record_block(self, attempt: BlockedAttempt, expires_at: int) -> None:
        with unavailable_on_outage("threads"):
            self.table.put_item(Item=attempt.to_item(expires_at))

    def recent_blocks(self, limit: int = 50) -> list[BlockedAttempt]:
        """The newest blocked attempts first (expired items are skipped: TTL deletion lags)."""
        with unavailable_on_outage("threads"):
            page = self.table.query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": "FILTER#BLOCKED"},
                ScanIndexForward=False,
                Limit=limit,
            )
        now = clock.epoch_seconds()
        return [
            BlockedAttempt.from_item(item)
            for item in page.get("Items", [])
            if as_int(item.get("expires_at")) == 0 or as_int(item.get("expires_at")) > now
        ]

    def entry(self, username: str, thread_id: str) -> InboxEntry | None:
        with unavailable_on_outage("threads"):
            item = self.table.get_item(
                Key={"pk": "USER#" + username, "sk": "THREAD#" + thread_id}, ConsistentRead=True
            ).get("Item")
        return InboxEntry.from_item(item) if item else None

    def inbox(self, username: str) -> list[InboxEntry]:
        return [InboxEntry.from_item(i) for i in self._query("USER#" + username, "THREAD#")]

    def _query(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": pk, ":prefix": prefix},
            "ConsistentRead": True,
        }
        with unavailable_on_outage("threads"):
            while True:
                page = self.table.query(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- writes, added to a transaction -----------------------------------------------

    def add_new_thread(
        self, tx: Transaction, thread: Thread, first: MessageRecord, entries: Iterable[InboxEntry]
    ) -> None:
        table = self.table_name
        tx.put(table, thread.to_item())
        tx.put(table, first.to_item())
        for entry in entries:
            tx.put(table, entry.to_item())

    def add_message(self, tx: Transaction, thread: Thread, message: MessageRecord) -> None:
        """Append ``message`` as interaction ``thread.interaction_count + 1``.

        The thread's count must still be what was read and below the maximum, so two
        concurrent sends can never both take the last place, nor pass twelve.
        """
        table = self.table_name
        tx.update(
            table,
            {"pk": "THREAD#" + thread.thread_id, "sk": "META"},
            "SET interaction_count = :new, last_activity_at = :now",
            condition="interaction_count = :expected AND interaction_count < max_interactions",
            values={":new": message.seq, ":now": message.created_at, ":expected": message.seq - 1},
        )
        tx.put(table, message.to_item(), condition="attribute_not_exists(sk)")
        for username in thread.participants:
            tx.update(
                table,
                {"pk": "USER#" + username, "sk": "THREAD#" + thread.thread_id},
                "SET interaction_count = :new, last_activity_at = :now, #hidden = :false",
                names={"#hidden": "hidden"},
                values={":new": message.seq, ":now": message.created_at, ":false": False},
            )

    def add_successor_link(self, tx: Transaction, predecessor_id: str, successor_id: str) -> None:
        tx.update(
            self.table_name,
            {"pk": "THREAD#" + predecessor_id, "sk": "META"},
            "SET successor_id = :successor",
            condition="attribute_exists(pk) AND attribute_not_exists(successor_id)",
            values={":successor": successor_id},
        )

    # --- small single-item updates ------------------------------------------------------

    def mark_read(self, username: str, thread_id: str, count: int) -> None:
        self._quiet_update(
            {"pk": "USER#" + username, "sk": "THREAD#" + thread_id},
            "SET read_count = :count",
            "attribute_exists(pk) AND read_count < :count",
            {":count": count},
        )

    def mark_opened(self, thread_id: str, seq: int, username: str, when: str) -> None:
        self._quiet_update(
            {"pk": "THREAD#" + thread_id, "sk": f"MSG#{seq:03d}"},
            "SET opened_by.#user = :when",
            "attribute_exists(pk) AND attribute_not_exists(opened_by.#user)",
            {":when": when},
            names={"#user": username},
        )

    def hide(self, username: str, thread_id: str) -> None:
        self._quiet_update(
            {"pk": "USER#" + username, "sk": "THREAD#" + thread_id},
            "SET #hidden = :true",
            "attribute_exists(pk)",
            {":true": True},
            names={"#hidden": "hidden"},
        )

    def _quiet_update(
        self,
        key: dict[str, str],
        expression: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> None:
        """An update whose failed condition means "already done"."""
        kwargs: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        with unavailable_on_outage("threads"):
            try:
                self.table.update_item(**kwargs)
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
