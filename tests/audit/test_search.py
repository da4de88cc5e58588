"""`sealpost-audit search` and `history`: filters, time ranges and the three output formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.audit.records import RECORD_COLUMNS, Actor, AuditEvent, Outcome, RequestInfo
from chalicelib.audit.search import TABLE_COLUMNS
from tests.conftest import CliRun

DAY = "2026-03-04"
NOW = f"{DAY}T12:00Z"
BOB = Actor("bob@clinic.example", "partner")
CAROL = Actor("carol@lab.example", "partner")


def jsonl(run: CliRun) -> list[dict[str, Any]]:
    assert run.code == 0, run.err
    return [json.loads(line) for line in run.out.splitlines()]


def search(audit_cli: Callable[..., CliRun], *args: str) -> list[dict[str, Any]]:
    return jsonl(audit_cli("search", "--start", DAY, "--end", NOW, "--format", "jsonl", *args, at=NOW))


@pytest.fixture
def mixed(record_at: Callable[..., Any]) -> None:
    record_at(f"{DAY}T05:00Z", AuditEvent.THREAD_CREATED, thread_id="t1", account="bob@clinic.example")
    record_at(f"{DAY}T05:01Z", AuditEvent.MESSAGE_SENT, thread_id="t1", message_id="m1", account="bob@clinic.example")
    record_at(f"{DAY}T06:00Z", AuditEvent.SIGNIN_FAILED, BOB, outcome=Outcome.FAILURE, account="bob@clinic.example")
    record_at(f"{DAY}T06:10Z", AuditEvent.MESSAGE_OPENED, BOB, thread_id="t1", message_id="m1")
    record_at(f"{DAY}T07:00Z", AuditEvent.MESSAGE_OPENED, CAROL, thread_id="t2", message_id="m2")
    record_at(f"{DAY}T07:30Z", AuditEvent.FILTER_BLOCKED, BOB, outcome=Outcome.DENIED, reason="external_recipient")


def events(records: list[dict[str, Any]]) -> list[str]:
    return [r["event"] for r in records]


FILTERS = [
    ((), ["thread.created", "message.sent", "signin.failed", "message.opened", "message.opened", "filter.blocked"]),
    (("--actor", "BOB@clinic.example"), ["signin.failed", "message.opened", "filter.blocked"]),
    (("--account", "bob@clinic.example"), ["thread.created", "message.sent", "signin.failed"]),
    (("--thread", "t1"), ["thread.created", "message.sent", "message.opened"]),
    (("--message", "m2"), ["message.opened"]),
    (("--event", "signin.failed", "--event", "filter.blocked"), ["signin.failed", "filter.blocked"]),
    (("--event", "message.*"), ["message.sent", "message.opened", "message.opened"]),
    (("--outcome", "denied"), ["filter.blocked"]),
    (("--actor", "bob@clinic.example", "--event", "message.opened"), ["message.opened"]),
]


def test_search_filters_combine_and_return_records_oldest_first(mixed: None, audit_cli: Callable[..., CliRun]) -> None:
    for args, expected in FILTERS:  # one trail for all cases (building it is the slow part)
        assert events(search(audit_cli, *args)) == expected, args


def test_search_keeps_to_its_time_range(mixed: None, audit_cli: Callable[..., CliRun]) -> None:
    found = jsonl(audit_cli("search", "--start", f"{DAY}T06:00Z", "--end", f"{DAY}T07:00Z", "--format", "jsonl"))
    assert events(found) == ["signin.failed", "message.opened"]


def test_search_defaults_to_the_last_24_hours(mixed: None, audit_cli: Callable[..., CliRun]) -> None:
    assert len(jsonl(audit_cli("search", "--format", "jsonl", at=f"{DAY}T23:00Z"))) == 6
    assert jsonl(audit_cli("search", "--format", "jsonl", at="2026-03-06T00:00Z")) == []


def test_an_unknown_event_type_is_refused_and_the_known_ones_are_listed(audit_cli: Callable[..., CliRun]) -> None:
    run = audit_cli("search", "--event", "message.teleported")
    assert run.code == 2
    assert "no event type matches 'message.teleported'" in run.err and "message.opened" in run.err


def test_every_event_type_is_stored_with_every_column_and_found_by_its_name(
    record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    for minute, event in enumerate(AuditEvent):
        record_at(f"{DAY}T05:{minute:02d}Z", event, account="bob@clinic.example", detail={"n": minute})
    found = search(audit_cli)
    assert events(found) == [str(event) for event in AuditEvent]
    for record in found:
        assert list(record) == sorted(name for name, _ in RECORD_COLUMNS)
        assert record["time"].startswith(DAY) and record["request_id"] == "req-test"
    (one,) = search(audit_cli, "--event", str(AuditEvent.FILTER_STRIKE))
    assert one["event"] == "filter.strike"


def test_the_table_shows_one_line_per_record_under_a_header(mixed: None, audit_cli: Callable[..., CliRun]) -> None:
    run = audit_cli("search", "--start", DAY, "--end", NOW, "--actor", "carol@lab.example", at=NOW)
    header, row = run.out.splitlines()
    assert header.split() == [c.upper() for c in TABLE_COLUMNS]
    time, event, outcome, actor, role, account, thread, message, reason = row.split()
    assert (time, event, outcome) == (f"{DAY}T07:00:00.000Z", "message.opened", "success")
    assert (actor, role, account, thread, message, reason) == ("carol@lab.example", "partner", "-", "t2", "m2", "-")


def test_csv_has_every_record_column_and_defuses_spreadsheet_formulas(
    record_at: Callable[..., Any], audit_cli: Callable[..., CliRun], audit_stack: Any
) -> None:
    request = RequestInfo("req-csv", "192.0.2.1", '=HYPERLINK("http://evil.test","open")')
    audit_stack.audit.record(AuditEvent.ACCESS_DENIED, actor=Actor.anonymous(), request=request, detail={"a": 1})
    run = audit_cli("search", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert list(rows[0]) == [name for name, _ in RECORD_COLUMNS]
    assert rows[0]["user_agent"] == "'" + request.user_agent  # type: ignore[operator]
    assert json.loads(rows[0]["detail"]) == {"a": "1"}


def test_the_table_escapes_control_characters_that_could_drive_the_terminal(
    audit_cli: Callable[..., CliRun], audit_stack: Any
) -> None:
    request = RequestInfo("req-tty", "192.0.2.1", "evil\x1b]0;owned\x07\u202eagent")
    audit_stack.audit.record(AuditEvent.ACCESS_DENIED, actor=Actor("x\x1b[2Jy", "anonymous"), request=request)
    run = audit_cli("search")
    assert "\x1b" not in run.out and "\u202e" not in run.out
    assert "x\\u001b[2Jy" in run.out


# --- history ------------------------------------------------------------------------------------


def test_history_tells_the_life_of_one_message_in_time_order(
    record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    life = [
        ("05:00:00", AuditEvent.MESSAGE_SENT, Actor("alice@plan.example", "associate")),
        ("05:00:01", AuditEvent.MESSAGE_TLS_DECIDED, Actor.system("mail-gateway")),
        ("05:00:02", AuditEvent.MESSAGE_NOTIFICATION_SENT, Actor.system("mail-gateway")),
        ("06:10:00", AuditEvent.MESSAGE_OPENED, BOB),
        ("06:11:00", AuditEvent.MESSAGE_DOWNLOADED, BOB),
        ("06:20:00", AuditEvent.MESSAGE_REPLIED, BOB),
    ]
    for when, event, actor in reversed(life):  # written out of order on purpose
        record_at(f"{DAY}T{when}Z", event, actor, thread_id="t1", message_id="m1", account="bob@clinic.example")
    record_at(f"{DAY}T06:15Z", AuditEvent.MESSAGE_OPENED, CAROL, thread_id="t2", message_id="m2")
    run = audit_cli("history", "m1", at=NOW)
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "Message m1: 6 event(s)"
    assert lines[1].split()[:3] == ["TIME", "EVENT", "OUTCOME"]
    assert [line.split()[1] for line in lines[2:]] == [str(event) for _, event, _ in life]
    assert [line.split()[0] for line in lines[2:]] == [f"{DAY}T{when}.000Z" for when, _, _ in life]
    as_json = jsonl(audit_cli("history", "m1", "--format", "jsonl", at=NOW))
    assert {r["message_id"] for r in as_json} == {"m1"} and len(as_json) == 6


def test_history_of_an_unknown_message_is_empty(audit_cli: Callable[..., CliRun]) -> None:
    run = audit_cli("history", "no-such-message")
    assert run.code == 0 and run.out.splitlines()[0] == "Message no-such-message: 0 event(s)"
