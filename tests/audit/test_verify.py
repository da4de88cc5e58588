"""`sealpost-audit verify`: an untouched trail verifies clean; every deletion, change, addition and
chain break is named, and the command exits non-zero.

Tampering is done the way it is possible on an Object Lock bucket in compliance mode: versions
cannot be deleted, so "delete" is a delete marker, "change" is a new version of the key, "add" is
a new key, and "remove a digest" is a delete marker on the digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.audit.digest import Digest, DigestLink, SignedDigest, SigningKey, string_to_sign
from chalicelib.audit.layout import Period
from chalicelib.audit.records import AuditEvent
from chalicelib.audit.verify import Finding
from tests.conftest import CliRun

DAY = "2026-03-04"
RECORD_TIMES = ("05:10", "05:20", "06:30", "07:45")
D05 = f"digests/dt={DAY}/20260304T050000Z_20260304T060000Z.json"
D06 = f"digests/dt={DAY}/20260304T060000Z_20260304T070000Z.json"
D07 = f"digests/dt={DAY}/20260304T070000Z_20260304T080000Z.json"
D08 = f"digests/dt={DAY}/20260304T080000Z_20260304T090000Z.json"
LATER = f"{DAY}T09:00Z"  # the 08:00 period is not yet due


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Trail:
    audit_stack: Any
    keys: dict[str, str]  # record time (HH:MM) -> object key

    @property
    def s3(self) -> Any:
        return self.audit_stack.client("s3")

    @property
    def bucket(self) -> str:
        return str(self.audit_stack.audit_bucket)

    def hide(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def change_one_byte(self, key: str) -> None:
        body = bytearray(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        body[body.index(b"success")] = ord("S")
        self.put(key, bytes(body))

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {}, ServerSideEncryption="aws:kms"
        )

    def signing_key(self) -> SigningKey:
        return SigningKey(
            self.audit_stack.env["SEALPOST_AUDIT_SIGNING_KEY_ARN"], lambda: self.audit_stack.client("kms")
        )

    def signed(self, key: str) -> SignedDigest:
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        body = got["Body"].read()
        return SignedDigest(Digest.parse(body), got["Metadata"]["signature"], got["VersionId"], body)


@pytest.fixture
def trail(audit_stack: Any, record_at: Callable[..., Any]) -> Trail:
    """Four records between 05:10 and 07:45, and the digests of 05:00, 06:00 and 07:00."""
    keys = {}
    for when in RECORD_TIMES:
        record_at(f"{DAY}T{when}Z", AuditEvent.MESSAGE_OPENED, message_id=f"msg-{when}")
        listed = audit_stack.client("s3").list_objects_v2(Bucket=audit_stack.audit_bucket, Prefix="records/")[
            "Contents"
        ]
        keys[when] = next(item["Key"] for item in listed if item["Key"] not in keys.values())
    written = audit_stack.digests().write_due(at(f"{DAY}T08:05"))
    assert [d.key for d in written] == [D05, D06, D07]
    return Trail(audit_stack, keys)


def problems(run: CliRun) -> list[tuple[str, str]]:
    kinds = {str(f) for f in Finding}
    found = []
    for line in run.out.splitlines():
        kind, _, key = line.partition("  ")
        if kind in kinds:
            found.append((kind, key))
    return found


def verify(audit_cli: Callable[..., CliRun], start: str = DAY, end: str = LATER, now: str = LATER) -> CliRun:
    return audit_cli("verify", "--start", start, "--end", end, at=now)


# --- clean --------------------------------------------------------------------------------------


def test_an_untouched_range_verifies_clean(trail: Trail, audit_cli: Callable[..., CliRun]) -> None:
    run = verify(audit_cli)
    assert run.code == 0, run.out + run.err
    assert "Checked 3 digest(s) and 4 record(s)." in run.out
    assert "RESULT: intact" in run.out and problems(run) == []


def test_verification_is_repeatable_and_a_sub_range_verifies_clean(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    assert verify(audit_cli).code == 0
    run = verify(audit_cli, start=f"{DAY}T06:00Z", end=f"{DAY}T07:00Z")
    assert run.code == 0 and "Checked 1 digest(s) and 1 record(s)." in run.out


def test_a_recent_period_without_its_digest_yet_is_pending_not_a_problem(
    audit_stack: Any, record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    record_at(f"{DAY}T05:10Z")
    record_at(f"{DAY}T06:10Z")
    audit_stack.digests().write_due(at(f"{DAY}T06:05"))
    run = verify(audit_cli, now=f"{DAY}T07:20Z")
    assert run.code == 0, run.out
    assert "Not yet covered by a digest: 1 record(s) since 2026-03-04T06:00:00.000Z" in run.out


# --- each tampering named ------------------------------------------------------------------------


def test_a_removed_digest_is_named_and_its_records_are_still_checked_against_it(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    trail.hide(D06)
    trail.change_one_byte(trail.keys["06:30"])
    run = verify(audit_cli)
    assert run.code == 1
    assert problems(run) == [(Finding.DIGEST_REMOVED, D06), (Finding.RECORD_CHANGED, trail.keys["06:30"])]


def test_deleted_changed_added_and_a_removed_digest_are_each_named(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    trail.hide(trail.keys["05:10"])
    trail.change_one_byte(trail.keys["05:20"])
    genuine = trail.keys["06:30"]
    forged = genuine.rsplit("/", 1)[0] + "/20260304T064000000000Z-fedcba9876543210fedcba9876543210.jsonl"
    trail.put(forged, trail.s3.get_object(Bucket=trail.bucket, Key=genuine)["Body"].read())
    trail.hide(D07)
    run = verify(audit_cli)
    assert run.code == 1
    assert sorted(problems(run)) == sorted(
        [
            (Finding.RECORD_DELETED, trail.keys["05:10"]),
            (Finding.RECORD_CHANGED, trail.keys["05:20"]),
            (Finding.RECORD_ADDED, forged),
            (Finding.DIGEST_REMOVED, D07),
        ]
    )
    for explained in (
        "hidden by a delete marker since",
        f"{D05} holds",
        f"not listed in {D06}",
        "original was checked",
    ):
        assert explained in run.out
    assert "RESULT: 4 problem(s) found." in run.out
    assert "alice@plan.example" not in run.out and "msg-" not in run.out  # keys and times only


def test_a_digest_replaced_by_an_unsigned_version_is_named_with_its_bad_signature(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    original = trail.signed(D05)
    without_one = original.body.replace(original.body[original.body.index(b'{"key"') :], b"]}\n")
    trail.put(D05, without_one, {"signature": original.signature})
    run = verify(audit_cli)
    assert run.code == 1
    assert problems(run) == [(Finding.DIGEST_REPLACED, D05), (Finding.DIGEST_BAD_SIGNATURE, D05)]


def test_a_missing_digest_is_named_once_its_period_is_overdue(
    audit_stack: Any, record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    for when in RECORD_TIMES:
        record_at(f"{DAY}T{when}Z")
    audit_stack.digests().write_due(at(f"{DAY}T06:05"))  # the writer stopped after 05:00
    run = verify(audit_cli, end=f"{DAY}T08:00Z", now=f"{DAY}T10:00Z")
    assert run.code == 1
    assert problems(run) == [(Finding.DIGEST_MISSING, D06)]
    assert "no digest covers 2026-03-04T06:00Z–08:00Z (2 record(s) there cannot be checked)" in run.out


def test_a_digest_signed_with_a_wrong_previous_link_is_named(trail: Trail, audit_cli: Callable[..., CliRun]) -> None:
    # Someone holding kms:Sign writes the 08:00 digest ahead of the writer, linking past 07:00.
    key = trail.signing_key()
    skipped = trail.signed(D06).link
    forged = Digest(
        trail.bucket, Period(at(f"{DAY}T08:00"), at(f"{DAY}T09:00")), at(LATER), key.arn, skipped, objects=()
    )
    body = forged.to_bytes()
    trail.put(D08, body, {"signature": key.sign(string_to_sign(D08, body, skipped))})
    run = verify(audit_cli)
    assert run.code == 1
    assert problems(run) == [(Finding.DIGEST_WRONG_PREVIOUS, D08)]
    assert f"names {D06} as previous instead of {D07}" in run.out


def test_a_digest_that_starts_a_second_chain_is_named(trail: Trail, audit_cli: Callable[..., CliRun]) -> None:
    key = trail.signing_key()
    forged = Digest(trail.bucket, Period(at(f"{DAY}T08:00"), at(f"{DAY}T09:00")), at(LATER), key.arn, None, ())
    body = forged.to_bytes()
    trail.put(D08, body, {"signature": key.sign(string_to_sign(D08, body, None))})
    run = verify(audit_cli)
    assert problems(run) == [(Finding.DIGEST_WRONG_PREVIOUS, D08)]
    assert f"the chain started earlier with {D05}" in run.out


def test_a_link_holding_another_signature_than_the_previous_digests_is_named(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    key = trail.signing_key()
    wrong = DigestLink(D07, trail.signed(D06).signature)
    forged = Digest(trail.bucket, Period(at(f"{DAY}T08:00"), at(f"{DAY}T09:00")), at(LATER), key.arn, wrong, ())
    body = forged.to_bytes()
    trail.put(D08, body, {"signature": key.sign(string_to_sign(D08, body, wrong))})
    run = verify(audit_cli)
    assert problems(run) == [(Finding.DIGEST_WRONG_PREVIOUS, D08)]
    assert "is not that digest's signature" in run.out


def test_a_digest_signed_by_another_key_has_a_bad_signature(
    trail: Trail, audit_stack: Any, audit_cli: Callable[..., CliRun]
) -> None:
    other = audit_stack.client("kms").create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    key = SigningKey(other, lambda: audit_stack.client("kms"))
    link = trail.signed(D07).link
    forged = Digest(trail.bucket, Period(at(f"{DAY}T08:00"), at(f"{DAY}T09:00")), at(LATER), other, link, ())
    body = forged.to_bytes()
    trail.put(D08, body, {"signature": key.sign(string_to_sign(D08, body, link))})
    run = verify(audit_cli)
    assert problems(run) == [(Finding.DIGEST_BAD_SIGNATURE, D08)]


def test_a_record_added_for_a_time_before_the_first_digest_is_named(
    trail: Trail, audit_cli: Callable[..., CliRun]
) -> None:
    backdated = "records/dt=2026-03-03/hour=10/shard=00/20260303T101500000000Z-00000000000000000000000000000000.jsonl"
    trail.put(backdated, b'{"event":"signin.failed","time":"2026-03-03T10:15:00.000Z"}\n')
    run = verify(audit_cli, start="2026-03-03")
    assert run.code == 1
    assert problems(run) == [(Finding.RECORD_ADDED, backdated)]
    assert "before the first digest" in run.out


def test_a_trail_that_was_never_digested_is_named_as_missing_its_digests(
    record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    record_at(f"{DAY}T05:10Z")
    run = verify(audit_cli, now=f"{DAY}T12:00Z")
    assert run.code == 1
    assert problems(run) == [(Finding.DIGEST_MISSING, f"digests/dt={DAY}/20260304T050000Z_20260304T060000Z.json")]
    assert "no digest covers 2026-03-04T05:00Z–09:00Z (1 record(s) there cannot be checked)" in run.out


def test_no_digest_is_demanded_for_the_time_before_a_fresh_trail_began(
    record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    # `make audit ARGS="verify --start 2h"` right after the first `make run`: the stack is minutes old.
    record_at(f"{DAY}T10:50Z")
    run = verify(audit_cli, start=f"{DAY}T08:00Z", end=f"{DAY}T12:00Z", now=f"{DAY}T12:00Z")
    assert run.code == 0, run.out
    assert problems(run) == []
    assert "Not yet covered by a digest: 1 record(s) since 2026-03-04T10:00:00.000Z" in run.out


def test_an_empty_trail_verifies_without_demanding_any_digest(audit_cli: Callable[..., CliRun]) -> None:
    run = verify(audit_cli, now=f"{DAY}T12:00Z")
    assert run.code == 0, run.out
    assert problems(run) == [] and "RESULT: intact" in run.out
