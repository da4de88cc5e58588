"""README's audit table names exactly the events the code can write (chalicelib/audit/records.py)."""

from __future__ import annotations

import re

from chalicelib.audit.records import AuditEvent
from tests.support import ROOT


def readme_events() -> set[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("| Area | Event types |")
    table = text[start : text.index("\n\n", start)]
    names = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", table))
    return {name for name in names if not name.startswith("detail.")}  # `detail.cause` is a record field


def test_every_event_in_the_readme_audit_table_exists_and_every_event_is_in_it() -> None:
    assert readme_events() == {event.value for event in AuditEvent}


def test_the_readme_points_to_nothing_outside_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    assert "../" not in re.sub(r"https?://\S+", "", text)
