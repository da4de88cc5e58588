"""``sealpost-admin redrive``: send the records a queue's function gave up on (its dead-letter queue)
back to the function's queue, once the cause is fixed.

A record reaches ``<stack>-<queue>-dlq`` after the queue's maxReceiveCount failed receives; the
alarm on the dead-letter queue's depth tells the operators. Redriving is safe to repeat: every
record is sent to the source queue before it is deleted from the dead-letter queue (so a crash
in between leaves a copy in both, never in neither), and the functions resume or skip what
they already did (``gateway.idempotency``). The command shows ids and counts only: a record
holds an SES notification (addresses) or, in ``account-mail``, a forgot-password request (what the
person typed), which is never printed.

SQS's own redrive (StartMessageMoveTask) does the same from the console; this command also
runs against ``make run``'s stand-in and says what it moved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.directory import Operator
from chalicelib.audit.records import AuditEvent, AuditLog
from chalicelib.errors import ConfigurationError

QUEUES = ("inbound-mail", "delivery-events", "account-mail")
_BATCH = 10  # SQS's most per ReceiveMessage
_INVISIBLE_WHILE_MOVING = 300  # seconds a received dead letter stays hidden while it is being sent back


@dataclass(frozen=True)
class Parked:
    """How many records wait in a dead-letter queue."""

    queue: str
    dead_letter_queue: str
    waiting: int
    in_flight: int


@dataclass(frozen=True)
class QueueRedrive:
    stack: str
    sqs_factory: Callable[[], Any]
    audit: AuditLog

    def parked(self, queue: str) -> Parked:
        dead = self._url(f"{self._name(queue)}-dlq")
        attributes = self.sqs_factory().get_queue_attributes(
            QueueUrl=dead, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return Parked(
            queue=self._name(queue),
            dead_letter_queue=f"{self._name(queue)}-dlq",
            waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def redrive(self, operator: Operator, queue: str, limit: int | None = None) -> list[str]:
        """Move up to ``limit`` records (all by default), audited first; returns the SQS message ids moved."""
        sqs = self.sqs_factory()
        source, dead = self._url(self._name(queue)), self._url(f"{self._name(queue)}-dlq")
        self.audit.record(
            AuditEvent.QUEUE_REDRIVEN,
            actor=operator.actor,
            request=operator.request,
            reason="redrive",
            detail=operator.detail(queue=queue, waiting=self.parked(queue).waiting),
        )
        moved: list[str] = []
        while limit is None or len(moved) < limit:
            wanted = _BATCH if limit is None else min(_BATCH, limit - len(moved))
            received = sqs.receive_message(
                QueueUrl=dead,
                MaxNumberOfMessages=wanted,
                VisibilityTimeout=_INVISIBLE_WHILE_MOVING,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                return moved
            for record in received:
                sent: dict[str, Any] = {"QueueUrl": source, "MessageBody": record["Body"]}
                if record.get("MessageAttributes"):
                    sent["MessageAttributes"] = record["MessageAttributes"]
                sqs.send_message(**sent)
                sqs.delete_message(QueueUrl=dead, ReceiptHandle=record["ReceiptHandle"])
                moved.append(str(record["MessageId"]))
        return moved

    def _name(self, queue: str) -> str:
        if queue not in QUEUES:
            raise ConfigurationError(f"no such queue: {queue} (one of {', '.join(QUEUES)})")
        return f"{self.stack}-{queue}"

    def _url(self, name: str) -> str:
        return str(self.sqs_factory().get_queue_url(QueueName=name)["QueueUrl"])
