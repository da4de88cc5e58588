"""The one source of the current time, so that tests can travel in time."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.fromtimestamp(time.time(), tz=UTC)


def epoch_seconds() -> int:
    return int(time.time())


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` suffix and millisecond precision."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
