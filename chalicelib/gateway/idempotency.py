"""Exactly-once work for SNS handlers, which may receive the same event twice.

A claim is one conditional put in the gateway table. ``done`` claims make a repeat
a no-op; an ``in_progress`` claim of a crashed run expires so that a later retry can
take the work over, while a concurrent duplicate backs off (and is retried by SNS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.dynamo import TableStore, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import ServiceUnavailable

IN_PROGRESS_SECONDS = 10 * 60
KEEP_DONE_SECONDS = 14 * 24 * 3600


class AlreadyInProgress(ServiceUnavailable):
    code = "already_in_progress"
    default_message = "This event is being handled right now."


def claim_key(*parts: str) -> str:
    """``IDEMPOTENCY#<sha256>`` of the parts (mail ids and addresses are not stored as they are)."""
    return "IDEMPOTENCY#" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Idempotency(TableStore):
    def claim(self, *parts: str) -> bool:
        """True when this caller should do the work; False when it was already done."""
        key = claim_key(*parts)
        now = clock.epoch_seconds()
        with unavailable_on_outage("idempotency"):
            try:
                self.table.put_item(
                    Item={"pk": key, "state": "in_progress", "expires_at": now + IN_PROGRESS_SECONDS},
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
