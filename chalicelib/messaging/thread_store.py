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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.dynamo import TableStore, Transaction, as_int, is_conditional_failure, unavailable_on_outage
from chalicelib.messaging.model import BlockedAttempt, Delivery, InboxEntry, MessageRecord, Thread


def _mail_id_key(mail_id: str) -> str:
    # Message-IDs can name hosts and people; only their hash is stored.
    return "MAILID#" + hashlib.sha256(mail_id.strip().strip("<>").lower().encode()).hexdigest()


@dataclass(frozen=True)
class ThreadRepository(TableStore):
    def client(self) -> Any:
        return self.table.meta.client

    # --- reads ------------------------------------------------------------------------

    def thread(self, thread_id: str) -> Thread | None:
        with unavailable_on_outage("threads"):
            item = self.table.get_item(Key={"pk": "THREAD#" + thread_id, "sk": "META"}, ConsistentRead=True).get("Item")
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
        """Remember Message-IDs of mail about this thread, so that mail answering them joins it.

        An id keeps the thread it was first recorded for: a later mail that reuses it (by mistake,
        or to pull the answers to another thread's mail into its own) records nothing."""
        with unavailable_on_outage("threads"):
            for mail_id in mail_ids:
                try:
                    self.table.put_item(
                        Item={"pk": _mail_id_key(mail_id), "sk": "META", "thread_id": thread_id},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                except Exception as exc:
                    if not is_conditional_failure(exc):
                        raise

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

    def add_message(
        self, tx: Transaction, thread: Thread, message: MessageRecord, usernames: Iterable[str] | None = None
    ) -> None:
        """Append ``message`` as interaction ``thread.interaction_count + 1``, and bring the inbox entries
        of ``usernames`` (default: every participant) up to it.

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
        for username in thread.participants if usernames is None else usernames:
            tx.update(
                table,
                {"pk": "USER#" + username, "sk": "THREAD#" + thread.thread_id},
                "SET interaction_count = :new, last_activity_at = :now, #hidden = :false",
                names={"#hidden": "hidden"},
                values={":new": message.seq, ":now": message.created_at, ":false": False},
            )

    # --- the entries a transaction had no room for (many participants), and a resumed send ---

    def put_entries_once(self, entries: Iterable[InboxEntry]) -> None:
        """Store entries one by one; one already there is kept as it is (a resumed send repeats this)."""
        with unavailable_on_outage("threads"):
            for entry in entries:
                try:
                    self.table.put_item(Item=entry.to_item(), ConditionExpression="attribute_not_exists(pk)")
                except Exception as exc:
                    if not is_conditional_failure(exc):
                        raise

    def advance_entries(self, thread_id: str, usernames: Iterable[str], message: MessageRecord) -> None:
        """Bring entries up to ``message``; an entry already there or further is left alone."""
        for username in usernames:
            self._quiet_update(
                {"pk": "USER#" + username, "sk": "THREAD#" + thread_id},
                "SET interaction_count = :new, last_activity_at = :now, #hidden = :false",
                "attribute_exists(pk) AND interaction_count < :new",
                {":new": message.seq, ":now": message.created_at, ":false": False},
                names={"#hidden": "hidden"},
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
