"""Verify the audit trail of a time range against its signed digests.

Reports every record deleted (hidden by a delete marker, or its version gone), changed
(a new version, or content that no longer matches the digest's SHA-256) or added after
its period's digest was made, and every break in the digest chain: a missing digest, a
digest removed or replaced, a bad signature, a wrong link to the previous digest. The
original version of each object stays readable under Object Lock, so a hidden or
replaced digest is still used to check its period's records.

Findings name keys, version ids and times only, never record contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib import clock
from chalicelib.audit.digest import InvalidDigest, SignedDigest, SigningKey, is_digest_key, read_digest
from chalicelib.audit.layout import (
    DAY,
    DIGESTS_PREFIX,
    Period,
    check_period_minutes,
    days_between,
    digest_day_prefix,
    digest_key,
    digest_period,
    period_floor,
    periods_between,
    record_time,
)
from chalicelib.audit.store import AuditStore, KeyHistory

# A period's digest counts as missing once this long has passed since the period ended
# (the writer runs hourly); before that its records are reported as not yet covered.
OVERDUE = timedelta(minutes=90)


class Finding(StrEnum):
    RECORD_DELETED = "record_deleted"
    RECORD_CHANGED = "record_changed"
    RECORD_ADDED = "record_added"
    DIGEST_MISSING = "digest_missing"
    DIGEST_REMOVED = "digest_removed"
    DIGEST_REPLACED = "digest_replaced"
    DIGEST_BAD_SIGNATURE = "digest_bad_signature"
    DIGEST_WRONG_PREVIOUS = "digest_wrong_previous"
    DIGEST_INVALID = "digest_invalid"


@dataclass(frozen=True)
class Problem:
    kind: Finding
    key: str
    message: str


@dataclass
class Report:
    bucket: str
    start: datetime
    end: datetime
    problems: list[Problem] = field(default_factory=list)
    digests_checked: int = 0
    records_checked: int = 0
    pending_records: int = 0
    pending_since: datetime | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, kind: Finding, key: str, message: str) -> None:
        self.problems.append(Problem(kind, key, message))


def _t(moment: datetime) -> str:
    return clock.iso(moment)


class Verifier:
    def __init__(self, store: AuditStore, signing_key: SigningKey, period_minutes: int) -> None:
        self._store = store
        self._key = signing_key
        self._minutes = check_period_minutes(period_minutes)

    def verify(self, start: datetime, end: datetime, now: datetime) -> Report:
        """Check every period that overlaps ``[start, end)`` (up to ``now``)."""
        low, high = period_floor(start, self._minutes), min(end, now)
        report = Report(self._store.bucket, low, high)
        first_digest = self._store.first_key(DIGESTS_PREFIX, is_digest_key)
        chain_start = digest_period(first_digest) if first_digest else None
        # Without any digest, nothing is demanded before the trail's first record (the stack's start).
        trail_start = None if chain_start is not None else self._store.first_record_time()
        previous: SignedDigest | None = None
        cursor = low  # everything before this moment is accounted for
        for day in days_between(low, high):
            records = self._store.record_histories(day, day + DAY)
            digests = sorted(
                [
                    (period, history)
                    for key, history in self._store.histories(digest_day_prefix(day)).items()
                    if (period := digest_period(key)) is not None
                    and history.original is not None
                    and period.end > low
                    and period.start < high
                ],
                key=lambda item: item[0],
            )
            for period, history in digests:
                if period.start > cursor:
                    self._uncovered(Period(cursor, period.start), records, (chain_start, trail_start), now, report)
                elif period.start < cursor:
                    report.add(
                        Finding.DIGEST_WRONG_PREVIOUS, history.key, "overlaps the period of the digest before it"
                    )
                signed = self._check_digest(history, report)
                if signed is not None:
                    expected = previous if previous is not None and previous.digest.period.end == period.start else None
                    self._check_link(signed, expected, first_digest, report)
                    self._check_records(signed, _within(records, period), report)
                previous = signed
                cursor = max(cursor, period.end)
            day_end = min(day + DAY, high)
            if cursor < day_end:
                self._uncovered(Period(cursor, day_end), records, (chain_start, trail_start), now, report)
                cursor = day_end
        return report

    # --- digests ----------------------------------------------------------------------------

    def _check_digest(self, history: KeyHistory, report: Report) -> SignedDigest | None:
        original = history.original
        assert original is not None
        try:
            signed = read_digest(self._store, history.key, original.version_id)
        except InvalidDigest as exc:
            report.add(Finding.DIGEST_INVALID, history.key, f"cannot be read as a signed digest ({exc})")
            return None
        report.digests_checked += 1
        if signed.digest.key != history.key or signed.digest.bucket != self._store.bucket:
            report.add(Finding.DIGEST_INVALID, history.key, "describes another period or bucket than its key says")
        if not self._key.verifies(signed):
            report.add(Finding.DIGEST_BAD_SIGNATURE, history.key, "the signature does not verify with the signing key")
        if history.hidden_since is not None:
            report.add(
                Finding.DIGEST_REMOVED,
                history.key,
                f"hidden by a delete marker since {_t(history.hidden_since)} (its original was checked)",
            )
        for later in history.later_versions:
            report.add(
                Finding.DIGEST_REPLACED,
                history.key,
                f"a new version {later.version_id} was written at {_t(later.written)} (the original was checked)",
            )
            try:
                replacement = read_digest(self._store, history.key, later.version_id)
                valid = self._key.verifies(replacement)
            except InvalidDigest:
                valid = False
            if not valid:
                report.add(
                    Finding.DIGEST_BAD_SIGNATURE,
                    history.key,
                    f"version {later.version_id} is not signed by the signing key",
                )
        return signed

    def _check_link(
        self, signed: SignedDigest, expected: SignedDigest | None, first_digest: str | None, report: Report
    ) -> None:
        link = signed.digest.previous
        if link is None:
            if first_digest is not None and first_digest < signed.key:
                report.add(
                    Finding.DIGEST_WRONG_PREVIOUS,
                    signed.key,
                    f"names no previous digest, but the chain started earlier with {first_digest}",
                )
            return
        if expected is None:
            history = self._store.history(link.key)
            if history.original is None:
                report.add(
                    Finding.DIGEST_MISSING, signed.key, f"the previous digest it names, {link.key}, does not exist"
                )
                return
            try:
                expected = read_digest(self._store, link.key, history.original.version_id)
            except InvalidDigest:
                report.add(Finding.DIGEST_INVALID, link.key, "the previous digest cannot be read as a signed digest")
                return
            if expected.digest.period.end != signed.digest.period.start:
                report.add(
                    Finding.DIGEST_WRONG_PREVIOUS,
                    signed.key,
                    f"names {link.key} as previous, which is not the digest of the period right before",
                )
                return
        if link.key != expected.key:
            report.add(
                Finding.DIGEST_WRONG_PREVIOUS, signed.key, f"names {link.key} as previous instead of {expected.key}"
            )
        elif link.signature != expected.signature:
            report.add(
                Finding.DIGEST_WRONG_PREVIOUS,
                signed.key,
                f"the signature it holds for the previous digest {link.key} is not that digest's signature",
            )

    # --- records ----------------------------------------------------------------------------

    def _check_records(self, signed: SignedDigest, records: dict[str, KeyHistory], report: Report) -> None:
        digest = signed.key
        present = {
            (entry.key, entry.version_id)
            for entry in signed.digest.objects
            if entry.key in records and any(v.version_id == entry.version_id for v in records[entry.key].versions)
        }
        contents = {(stored.key, stored.version_id): stored.sha256 for stored in self._store.read_many(sorted(present))}
        listed = set()
        for entry in signed.digest.objects:
            listed.add(entry.key)
            report.records_checked += 1
            history = records.get(entry.key)
            if (entry.key, entry.version_id) not in present or history is None:
                report.add(
                    Finding.RECORD_DELETED,
                    entry.key,
                    f"listed in {digest}, but its version {entry.version_id} no longer exists",
                )
                continue
            if contents.get((entry.key, entry.version_id)) != entry.sha256:
                report.add(
                    Finding.RECORD_CHANGED,
                    entry.key,
                    f"version {entry.version_id} no longer matches the SHA-256 in {digest}",
                )
            if history.hidden_since is not None:
                report.add(
                    Finding.RECORD_DELETED, entry.key, f"hidden by a delete marker since {_t(history.hidden_since)}"
                )
            for version in history.versions:
                if version.version_id != entry.version_id:
                    report.add(
                        Finding.RECORD_CHANGED,
                        entry.key,
                        f"another version {version.version_id} was written at {_t(version.written)}; "
                        f"{digest} holds {entry.version_id}",
                    )
        for key, history in sorted(records.items()):
            if key not in listed and history.original is not None:
                report.add(
                    Finding.RECORD_ADDED,
                    key,
                    f"written at {_t(history.original.written)} but not listed in {digest}",
                )

    def _uncovered(
        self,
        span: Period,
        records: dict[str, KeyHistory],
        starts: tuple[Period | None, datetime | None],
        now: datetime,
        report: Report,
    ) -> None:
        """Periods without any digest: pending when recent, else a finding. ``starts``: the first digest's
        period, and (when there is none) the first record's time."""
        chain_start, trail_start = starts
        missing: list[tuple[Period, int]] = []
        for period in periods_between(span.start, span.end, self._minutes):
            inside = _within(records, Period(max(period.start, span.start), min(period.end, span.end)))
            if chain_start is None and (trail_start is None or period.end <= trail_start):
                continue  # before anything was recorded: the stack did not exist yet
            if now < period.end + OVERDUE:
                report.pending_records += len(inside)
                if report.pending_since is None or period.start < report.pending_since:
                    report.pending_since = period.start
            elif chain_start is not None and period.start < chain_start.start:
                for key, history in sorted(inside.items()):
                    assert history.original is not None
                    report.add(
                        Finding.RECORD_ADDED,
                        key,
                        f"written at {_t(history.original.written)} for a time before the first digest",
                    )
            else:
                missing.append((period, len(inside)))
        for run in _consecutive(missing):
            whole = Period(run[0][0].start, run[-1][0].end)
            count = sum(n for _, n in run)
            report.add(
                Finding.DIGEST_MISSING,
                digest_key(run[0][0]),
                f"no digest covers {whole.label} ({count} record(s) there cannot be checked)",
            )


def _within(records: dict[str, KeyHistory], period: Period) -> dict[str, KeyHistory]:
    return {
        key: history
        for key, history in records.items()
        if history.original is not None and (moment := record_time(key)) is not None and moment in period
    }


def _consecutive(periods: list[tuple[Period, int]]) -> list[list[tuple[Period, int]]]:
    runs: list[list[tuple[Period, int]]] = []
    for item in periods:
        if runs and runs[-1][-1][0].end == item[0].start:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs
