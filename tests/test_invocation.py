"""The Lambda invocation: a deadline from the context, and SQS batches handled record by record."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import time_machine

from chalicelib.invocation import IN_PROGRESS_SECONDS, Deadline, handle_batch, notification_of


def record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "body": body, "attributes": {"ApproximateReceiveCount": "2"}}


def test_a_failing_record_is_reported_alone_and_logged_by_type_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handle(message: str) -> dict[str, str]:
        if message == "bad":
            raise ValueError("Jane Roe's lab results")
        return {"handled": message}

    with caplog.at_level(logging.WARNING):
        outcome = handle_batch([record("m1", "one"), record("m2", "bad"), record("m3", "three")], handle)
    assert outcome == {
        "batchItemFailures": [{"itemIdentifier": "m2"}],
        "results": [{"handled": "one"}, {"handled": "three"}],
    }
    (line,) = [r for r in caplog.records if r.name == "chalicelib.invocation"]
    assert line.error == "ValueError" and line.sqs_message_id == "m2" and line.receive_count == "2"  # type: ignore[attr-defined]
    assert "Jane Roe" not in caplog.text


def test_a_process_ending_exception_is_not_swallowed_as_a_failed_record() -> None:
    def killed(_: str) -> dict[str, str]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        handle_batch([record("m1", "one")], killed)


def test_a_raw_body_is_the_notification_and_an_sns_envelope_is_unwrapped() -> None:
    ses = json.dumps({"notificationType": "Received", "mail": {"messageId": "s1"}})
    assert notification_of(ses) == ses
    assert notification_of(json.dumps({"Type": "Notification", "Message": ses})) == ses
    assert notification_of("not json") == "not json"
    not_a_message = json.dumps({"Type": "Notification", "Message": 7})
    assert notification_of(not_a_message) == not_a_message


class Context:
    def __init__(self, remaining_ms: float) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> float:
        return self.remaining_ms


def test_the_deadline_is_the_invocations_end_rounded_up_and_never_in_the_past() -> None:
    with time_machine.travel(1_000_000, tick=False):
        assert Deadline.of(Context(299_500)).epoch_seconds() == 1_000_000 + 299 + 1
        assert Deadline.of(Context(-50)).epoch_seconds() == 1_000_000 + 1
        assert Deadline.of(None).epoch_seconds() == 1_000_000 + IN_PROGRESS_SECONDS + 1
