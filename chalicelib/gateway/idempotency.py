"""Exactly-once work for the handlers AWS may invoke twice (queue records, schedules).

A claim is one conditional put in the gateway table. ``done`` claims make a repeat a no-op;
an ``in_progress`` claim expires when the invocation that took it must have ended (its
remaining time, as Powertools' idempotency utility does), so that the retry of a run killed by
a timeout or out of memory takes the work over, while a concurrent duplicate backs off (its
record is received again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.dynamo import TableStore, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import ServiceUnavailable
from chalicelib.invocation import IN_PROGRESS_SECONDS

# Longer than a queue keeps a record (14 days at most): a redriven record still finds its claim.
KEEP_DONE_SECONDS = 15 * 24 * 3600


class AlreadyInProgress(ServiceUnavailable):
    code = "already_in_progress"
    default_message = "This event is being handled right now."


def claim_key(*parts: str) -> str:
    """``IDEMPOTENCY#<sha256>`` of the parts (mail ids and addresses are not stored as they are)."""
    return "IDEMPOTENCY#" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency(TableStore):
    def claim(self, *parts: str, until: int | None = None) -> bool:
        """True when this caller should do the work; False when it was already done.

        ``until``: when the claim lapses if the caller never says done or release (the end of
        the invocation: see ``Deadline``)."""
        key = claim_key(*parts)
        now = clock.epoch_seconds()
        with unavailable_on_outage("idempotency"):
            try:
                self.table.put_item(
                    Item={"pk": key, "state": "in_progress", "expires_at": until or now + IN_PROGRESS_SECONDS},
                    ConditionExpression="attribute_not_exists(pk) OR (#s = :busy AND expires_at < :now)",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={":busy": "in_progress", ":now": now},
                )
                return True
            except Exception as exc:
                if not is_conditional_failure(exc):
                    raise
            item = self.table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item") or {}
        if item.get("state") == "done":
            return False
        raise AlreadyInProgress()

    def done(self, *parts: str) -> None:
        with unavailable_on_outage("idempotency"):
            self.table.put_item(
                Item={"pk": claim_key(*parts), "state": "done", "expires_at": clock.epoch_seconds() + KEEP_DONE_SECONDS}
            )

    def release(self, *parts: str) -> None:
        """Give the claim back after a failure, so the retry of the event does the work."""
        with unavailable_on_outage("idempotency"):
            self.table.delete_item(
                Key={"pk": claim_key(*parts)},
                ConditionExpression="#s = :busy",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":busy": "in_progress"},
            )

    # --- a mail posted as a thread or message: what a retry resumes from ------------------

    def posted_marker(self, ses_message_id: str, thread_id: str, message_id: str) -> tuple[str, dict[str, Any]]:
        """The (table, item) the send stores in the transaction that commits the mail's message."""
        return self.table_name, {
            "pk": claim_key("posted", ses_message_id),
            "thread_id": thread_id,
            "message_id": message_id,
            "expires_at": clock.epoch_seconds() + KEEP_DONE_SECONDS,
        }

    def posted(self, ses_message_id: str) -> tuple[str, str] | None:
        """(thread id, message id) when the mail's message was already stored by an earlier run."""
        with unavailable_on_outage("idempotency"):
            item = self.table.get_item(Key={"pk": claim_key("posted", ses_message_id)}, ConsistentRead=True).get("Item")
        return (str(item["thread_id"]), str(item["message_id"])) if item else None


def mail_ids(ses_message_id: str) -> tuple[str, str]:
    """The thread id (when the mail starts one) and message id of a mail: the same on every retry,
    so that a retry writes the same objects instead of leaving a first run's ones behind."""
    digest = hashlib.sha256(("sealpost-mail\x1f" + ses_message_id).encode()).hexdigest()
    return digest[:32], digest[32:]
