"""Exactly-once claims for SNS handlers."""

from __future__ import annotations

import time
from typing import Any

import pytest
import time_machine

from chalicelib import aws_clients
from chalicelib.gateway.idempotency import IN_PROGRESS_SECONDS, AlreadyInProgress, Idempotency, claim_key


@pytest.fixture
def idempotency(stack: Any) -> Idempotency:
    return Idempotency(lambda: aws_clients.dynamodb_table(stack.env["SEALPOST_GATEWAY_TABLE"], "us-east-1"))


def test_the_first_claim_wins_and_a_done_claim_is_a_no_op(idempotency: Idempotency) -> None:
    assert idempotency.claim("inbound", "ses-1") is True
    idempotency.done("inbound", "ses-1")
    assert idempotency.claim("inbound", "ses-1") is False
    assert idempotency.claim("inbound", "ses-2") is True


def test_a_duplicate_during_the_work_backs_off(idempotency: Idempotency) -> None:
    assert idempotency.claim("tls", "ses-1", "a@b.test")
    with pytest.raises(AlreadyInProgress):
        idempotency.claim("tls", "ses-1", "a@b.test")


def test_a_released_claim_can_be_taken_again(idempotency: Idempotency) -> None:
    assert idempotency.claim("inbound", "ses-1")
    idempotency.release("inbound", "ses-1")
    assert idempotency.claim("inbound", "ses-1")


def test_a_crashed_claim_expires_so_a_retry_can_take_over(idempotency: Idempotency) -> None:
    with time_machine.travel(time.time(), tick=False) as traveller:
        assert idempotency.claim("inbound", "ses-1")
        traveller.shift(IN_PROGRESS_SECONDS + 1)
        assert idempotency.claim("inbound", "ses-1")


def test_keys_hold_no_address_or_message_id(stack: Any, idempotency: Idempotency) -> None:
    idempotency.claim("tls", "ses-secret-id", "person@clinic.test")
    items = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_GATEWAY_TABLE"])["Items"]
    assert "person@clinic.test" not in repr(items) and "ses-secret-id" not in repr(items)
    assert items[0]["pk"]["S"] == claim_key("tls", "ses-secret-id", "person@clinic.test")
