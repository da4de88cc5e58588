"""Key layout and digest periods: pure functions shared by the writer, the digests and the verifier."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib.audit.layout import (
    PERIOD_MINUTES,
    Period,
    check_period_minutes,
    digest_key,
    digest_period,
    period_at,
    period_floor,
    periods_between,
    record_time,
)
from chalicelib.audit.records import Actor, AuditEvent, AuditRecord, Outcome, RequestInfo, record_key


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_record_belongs_to_the_time_in_its_key() -> None:
    moment = at("2026-03-04T05:06:07.123456")
    record = AuditRecord(moment, AuditEvent.ACCESS_DENIED, Outcome.DENIED, Actor.anonymous(), RequestInfo("r"))
    assert record_time(record_key(record, uuid.uuid4().hex)) == moment


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # a forged name whose time lies outside its partition counts for the partition's hour
        ("records/dt=2026-03-04/hour=05/shard=01/20260304T071500000000Z-ab.jsonl", "2026-03-04T05:00"),
        ("records/dt=2026-03-04/hour=05/forged.jsonl", "2026-03-04T05:00"),
        ("records/dt=2026-03-04/hour=05/shard=01/20261304T050000000000Z-ab.jsonl", "2026-03-04T05:00"),
    ],
)
def test_a_key_without_a_usable_time_belongs_to_its_hour_partition(key: str, expected: str) -> None:
    assert record_time(key) == at(expected)


@pytest.mark.parametrize("key", ["records/x.jsonl", "records/dt=2026-02-30/hour=05/a.jsonl", "digests/dt=x/a"])
def test_keys_outside_the_layout_have_no_time(key: str) -> None:
    assert record_time(key) is None


@pytest.mark.parametrize("minutes", PERIOD_MINUTES)
def test_periods_tile_every_day_without_gaps(minutes: int) -> None:
    day = periods_between(at("2026-03-04T00:00"), at("2026-03-05T00:00"), minutes)
    assert day[0].start == at("2026-03-04T00:00") and day[-1].end == at("2026-03-05T00:00")
    assert all(a.end == b.start for a, b in itertools.pairwise(day))
    assert len(day) == 1440 // minutes


def test_a_period_holds_its_start_but_not_its_end() -> None:
    period = period_at(at("2026-03-04T05:59:59.999999"), 60)
    assert period == Period(at("2026-03-04T05:00"), at("2026-03-04T06:00"))
    assert at("2026-03-04T05:00") in period and at("2026-03-04T06:00") not in period
    assert period_floor(at("2026-03-04T05:44"), 15) == at("2026-03-04T05:30")


@pytest.mark.parametrize("minutes", [0, 7, 45, 90, 2880])
def test_period_lengths_that_do_not_line_up_with_hours_and_days_are_refused(minutes: int) -> None:
    with pytest.raises(ValueError, match="one of"):
        check_period_minutes(minutes)


def test_a_digest_key_names_its_period_and_sorts_in_time_order() -> None:
    periods = periods_between(at("2026-03-04T22:00"), at("2026-03-05T02:00"), 60)
    keys = [digest_key(p) for p in periods]
    assert keys[0] == "digests/dt=2026-03-04/20260304T220000Z_20260304T230000Z.json"
    assert keys == sorted(keys)
    assert [digest_period(k) for k in keys] == periods


@pytest.mark.parametrize(
    "key",
    [
        "digests/dt=2026-03-04/20260304T060000Z_20260304T050000Z.json",  # ends before it starts
        "digests/dt=2026-03-05/20260304T050000Z_20260304T060000Z.json",  # wrong day folder
        "digests/dt=2026-03-04/latest.json",
    ],
)
def test_keys_that_are_not_digest_keys_have_no_period(key: str) -> None:
    assert digest_period(key) is None
