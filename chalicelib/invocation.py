"""The Lambda invocation a handler runs in: when it ends (``Deadline``: a claim it holds lapses
then), and SQS batches handled record by record.

The mail functions read SNS → SQS → Lambda, so that a failed or killed run is received again
after the visibility timeout and, after the queue's maxReceiveCount, lands in its dead-letter
queue instead of disappearing (``sealpost-admin redrive`` sends it back). Each record is handled
on its own; one that fails is reported in ``batchItemFailures`` (the event source mapping has
``ReportBatchItemFailures``), so the others are not received again. A record's body is the SES
notification itself (raw message delivery); an SNS envelope is unwrapped too, so that a
subscription without raw delivery still works.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import clock, logs

log = logging.getLogger(__name__)

# Without a Lambda context (the local run, commands): as long as the longest function may run.
IN_PROGRESS_SECONDS = 5 * 60


@dataclass(frozen=True)
class Deadline:
    """When the running invocation ends, in epoch seconds: a claim it holds expires then."""

    remaining_ms: Callable[[], float]

    @classmethod
    def of(cls, context: Any) -> Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining) if callable(remaining) else cls.unknown()

    @classmethod
    def unknown(cls) -> Deadline:
        return cls(lambda: IN_PROGRESS_SECONDS * 1000.0)

    def epoch_seconds(self) -> int:
        # Rounded up by a second: the claim never ends before the invocation does.
        return clock.epoch_seconds() + int(max(0.0, self.remaining_ms()) // 1000) + 1


def notification_of(body: str) -> str:
    """The SNS message a queue record carries: the body itself, or the ``Message`` of an SNS envelope."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict) and parsed.get("Type") == "Notification" and isinstance(parsed.get("Message"), str):
        return str(parsed["Message"])
    return body


def handle_batch(records: Iterable[Mapping[str, Any]], handle: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """``handle`` each record's notification; failures are logged by type and reported for a retry."""
    failures: list[dict[str, str]] = []
    results: list[Mapping[str, Any]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            with logs.bound(sqs_message_id=message_id):
                results.append(handle(notification_of(str(record.get("body", "")))))
        except Exception as exc:
            # The type only: an exception's text may quote what it was handling.
            log.warning(
                "queue record failed; it is received again and, after the last receive, goes to the dead-letter queue",
                extra={
                    "error": type(exc).__name__,
                    "sqs_message_id": message_id,
                    "receive_count": str(record.get("attributes", {}).get("ApproximateReceiveCount", "")),
                },
            )
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures, "results": results}
