"""Where audit objects live in the bucket, and the periods that digests cover. Pure functions, no AWS.

Records: ``records/dt=YYYY-MM-DD/hour=HH/shard=NN/<YYYYmmddTHHMMSSffffff>Z-<uuid>.jsonl``.
Digests: ``digests/dt=YYYY-MM-DD/<start>_<end>.json`` (one per period, start and end as ``YYYYmmddTHHMMSSZ``).

A period is a half-open UTC interval ``[start, end)``. Its length is a setting in minutes
that divides an hour or is a whole number of hours that divides a day, so every period
lies inside one day and periods of any length line up with the hour partitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.audit.records import RECORDS_PREFIX
from chalicelib.settings import DIGEST_PERIOD_MINUTES

DIGESTS_PREFIX = "digests/"
PERIOD_MINUTES = DIGEST_PERIOD_MINUTES  # declared with the settings, which import no feature package
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

_RECORD_KEY = re.compile(r"^records/dt=(?P<day>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/(?P<rest>.+)$")
_RECORD_STAMP = re.compile(r"^(?P<stamp>\d{8}T\d{12})Z-")
_DIGEST_KEY = re.compile(r"^digests/dt=(?P<day>\d{4}-\d{2}-\d{2})/(?P<start>\d{8}T\d{6})Z_(?P<end>\d{8}T\d{6})Z\.json$")
_STAMP_FORMAT = "%Y%m%dT%H%M%S"


@dataclass(frozen=True, order=True)
class Period:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def label(self) -> str:
        end = f"{self.end:%H:%MZ}" if self.end.date() == self.start.date() else iso_minute(self.end)
        return f"{iso_minute(self.start)}–{end}"


def iso_minute(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def check_period_minutes(minutes: int) -> int:
    if minutes not in PERIOD_MINUTES:
        allowed = ", ".join(str(m) for m in PERIOD_MINUTES)
        raise ValueError(f"the digest period must be one of {allowed} minutes")
    return minutes


def period_floor(moment: datetime, minutes: int) -> datetime:
    """The start of the period of ``minutes`` that holds ``moment``."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (moment - midnight) // timedelta(minutes=minutes)
    return midnight + elapsed * timedelta(minutes=minutes)


def period_at(moment: datetime, minutes: int) -> Period:
    start = period_floor(moment, minutes)
    return Period(start, start + timedelta(minutes=minutes))


def periods_between(start: datetime, end: datetime, minutes: int) -> list[Period]:
    """The periods of ``minutes`` that overlap ``[start, end)``, in order."""
    found = []
    moment = period_floor(start, minutes)
    while moment < end:
        found.append(Period(moment, moment + timedelta(minutes=minutes)))
        moment += timedelta(minutes=minutes)
    return found


def days_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Midnight of every UTC day that overlaps ``[start, end)``."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        yield day
        day += DAY


def record_time(key: str) -> datetime | None:
    """When a record object belongs: the time in its name when that lies in its hour partition,
    else the start of the partition's hour. ``None`` for keys outside the ``dt=/hour=`` layout."""
    match = _RECORD_KEY.match(key)
    if match is None:
        return None
    try:
        hour = datetime.strptime(f"{match['day']} {match['hour']}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        return None
    stamp = _RECORD_STAMP.match(match["rest"].rsplit("/", 1)[-1])
    if stamp is not None:
        try:
            moment = datetime.strptime(stamp["stamp"], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
        except ValueError:
            return hour
        if hour <= moment < hour + HOUR:
            return moment
    return hour


def record_day_prefix(day: datetime) -> str:
    return f"{RECORDS_PREFIX}dt={day:%Y-%m-%d}/"


def record_hour_prefix(hour: datetime) -> str:
    return f"{RECORDS_PREFIX}dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def digest_day_prefix(day: datetime) -> str:
    return f"{DIGESTS_PREFIX}dt={day:%Y-%m-%d}/"


def day_of_prefix(prefix: str) -> datetime | None:
    """The day of a ``records/dt=…/`` or ``digests/dt=…/`` prefix (``None`` for anything else)."""
    match = re.fullmatch(r"(?:records|digests)/dt=(\d{4}-\d{2}-\d{2})/", prefix)
    if match is None:
        return None
    try:
        return datetime.strptime(match[1], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def digest_key(period: Period) -> str:
    return (
        f"{digest_day_prefix(period.start)}"
        f"{period.start.strftime(_STAMP_FORMAT)}Z_{period.end.strftime(_STAMP_FORMAT)}Z.json"
    )


def digest_period(key: str) -> Period | None:
    """The period a digest key names (``None`` when the key is not a digest key)."""
    match = _DIGEST_KEY.match(key)
    if match is None:
        return None
    try:
        start = datetime.strptime(match["start"], _STAMP_FORMAT).replace(tzinfo=UTC)
        end = datetime.strptime(match["end"], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    if end <= start or f"{start:%Y-%m-%d}" != match["day"]:
        return None
    return Period(start, end)
