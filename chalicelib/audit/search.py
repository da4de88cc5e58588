"""Search the audit trail and tell the life of one message, as tables, JSON lines or CSV.

Reads the records of a time range straight from the audit bucket (the current version of
each object, as Athena sees them). For long ranges over a busy trail, Athena is faster:
see the README for ready queries.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

from chalicelib.audit.records import RECORD_COLUMNS, AuditEvent
from chalicelib.audit.store import AuditStore

OutputFormat = Literal["table", "jsonl", "csv"]
FORMATS: tuple[OutputFormat, ...] = ("table", "jsonl", "csv")
TABLE_COLUMNS = ("time", "event", "outcome", "actor", "actor_role", "account", "thread_id", "message_id", "reason")
HISTORY_COLUMNS = ("time", "event", "outcome", "actor", "actor_role", "account", "thread_id", "reason", "detail")

Record = dict[str, Any]


def check_event_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Event names or shell-style patterns (``message.*``); each must match a known event."""
    known = [str(e) for e in AuditEvent]
    checked = []
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern) for name in known):
            raise ValueError(f"no event type matches {pattern!r}; known types: {', '.join(known)}")
        checked.append(pattern)
    return tuple(checked)


@dataclass(frozen=True)
class Query:
    start: datetime
    end: datetime
    actor: str | None = None
    account: str | None = None
    thread_id: str | None = None
    message_id: str | None = None
    events: tuple[str, ...] = ()
    outcome: str | None = None

    def matches(self, record: Record) -> bool:
        def same(field: str, wanted: str | None, fold: bool = False) -> bool:
            if wanted is None:
                return True
            value = record.get(field)
            if not isinstance(value, str):
                return False
            return value.casefold() == wanted.casefold() if fold else value == wanted

        event = record.get("event")
        return (
            same("actor", self.actor, fold=True)
            and same("account", self.account, fold=True)
            and same("thread_id", self.thread_id)
            and same("message_id", self.message_id)
            and same("outcome", self.outcome)
            and (not self.events or (isinstance(event, str) and any(fnmatchcase(event, p) for p in self.events)))
        )


def search(store: AuditStore, query: Query) -> list[Record]:
    """The records in the query's time range that match it, oldest first."""
    found = [
        (str(record.get("time", "")), key, record)
        for key, record in store.records(store.current_record_keys(query.start, query.end))
        if query.matches(record)
    ]
    return [record for _, _, record in sorted(found, key=lambda item: (item[0], item[1]))]


def history(store: AuditStore, message_id: str, start: datetime, end: datetime) -> list[Record]:
    """Every record about one message, in time order: sent, delivered or notified, opened, replied…"""
    return search(store, Query(start=start, end=end, message_id=message_id))


# --- output ---------------------------------------------------------------------------------

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _cell(value: Any) -> str:
    """One value as safe terminal text: control and bidi characters escaped (a user agent is
    chosen by whoever sent the request and must not drive the reviewer's terminal)."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        return _cell(text) if text else "-"
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def as_table(records: Sequence[Record], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    rows = [[name.upper() for name in columns]] + [[_cell(r.get(name)) for name in columns] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def as_jsonl(records: Sequence[Record]) -> str:
    return "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)


def _csv_safe(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_csv(records: Sequence[Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = [name for name, _ in RECORD_COLUMNS]
    writer.writerow(names)
    for record in records:
        writer.writerow([_csv_safe(record.get(name)) for name in names])
    return out.getvalue()


def render(records: Sequence[Record], output: OutputFormat, columns: Sequence[str] = TABLE_COLUMNS) -> str:
    if output == "jsonl":
        return as_jsonl(records)
    if output == "csv":
        return as_csv(records)
    return as_table(records, columns)
