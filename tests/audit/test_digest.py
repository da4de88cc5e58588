"""The digest writer: one signed digest per period, chained, idempotent, and reporting tampering it meets."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from botocore.exceptions import ClientError
from chalice.test import Client
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chalicelib.audit.digest import DigestChainError, DigestWriter, SigningKey, string_to_sign
from chalicelib.audit.records import Actor, AuditEvent, RequestInfo
from chalicelib.audit.store import AuditStore, KeyHistory
from chalicelib.errors import ConfigurationError
from tests.support import audit_records


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def writer(audit_stack: Any, **options: Any) -> DigestWriter:
    return audit_stack.digests(**options)  # type: ignore[no-any-return]


def digest_versions(audit_stack: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    listing = audit_stack.client("s3").list_object_versions(Bucket=audit_stack.audit_bucket, Prefix="digests/")
    for version in listing.get("Versions", []):
        found.setdefault(version["Key"], []).append(version)
    return found


def stored_digest(audit_stack: Any, key: str) -> tuple[dict[str, Any], bytes, str]:
    got = audit_stack.client("s3").get_object(Bucket=audit_stack.audit_bucket, Key=key)
    body = got["Body"].read()
    return json.loads(body), body, got["Metadata"]["signature"]


def tamper_records(audit_stack: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in audit_records(audit_stack.client("s3"), audit_stack.audit_bucket)
        if r["event"] == "integrity.tamper_detected"
    ]


# --- the chain --------------------------------------------------------------------------------


def test_the_first_digest_starts_the_chain_at_the_oldest_record_and_each_next_links_the_one_before(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    for when in ("2026-03-04T05:10Z", "2026-03-04T05:20Z", "2026-03-04T06:30Z"):
        record_at(when)
    written = writer(audit_stack).write_due(at("2026-03-04T08:05"))
    assert [d.key for d in written] == [
        "digests/dt=2026-03-04/20260304T050000Z_20260304T060000Z.json",
        "digests/dt=2026-03-04/20260304T060000Z_20260304T070000Z.json",
        "digests/dt=2026-03-04/20260304T070000Z_20260304T080000Z.json",
    ]
    first, second, third = (stored_digest(audit_stack, d.key) for d in written)
    assert first[0]["previous"] is None
    assert second[0]["previous"] == {"key": written[0].key, "signature": first[2]}
    assert third[0]["previous"] == {"key": written[1].key, "signature": second[2]}
    assert [len(d[0]["objects"]) for d in (first, second, third)] == [2, 1, 0]


def test_a_digest_lists_key_version_and_sha256_of_every_record_object_of_its_period(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    record_at("2026-03-04T05:59:59Z")
    record_at("2026-03-04T06:00Z")  # the next period
    (written, _) = writer(audit_stack).write_due(at("2026-03-04T07:05"))
    s3 = audit_stack.client("s3")
    listed = s3.list_objects_v2(Bucket=audit_stack.audit_bucket, Prefix="records/dt=2026-03-04/hour=05/")["Contents"]
    expected = []
    for item in listed:
        got = s3.get_object(Bucket=audit_stack.audit_bucket, Key=item["Key"])
        body = got["Body"].read()
        expected.append(
            {
                "key": item["Key"],
                "version_id": got["VersionId"],
                "sha256": hashlib.sha256(body).hexdigest(),
                "size": len(body),
            }
        )
    document, _, _ = stored_digest(audit_stack, written.key)
    assert document["objects"] == sorted(expected, key=lambda e: e["key"])
    assert document["bucket"] == audit_stack.audit_bucket
    assert (document["period_start"], document["period_end"]) == (
        "2026-03-04T05:00:00.000Z",
        "2026-03-04T06:00:00.000Z",
    )


def test_each_digest_is_signed_with_the_kms_key_and_verifies_with_its_public_key_alone(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    (written,) = writer(audit_stack).write_due(at("2026-03-04T06:05"))
    document, body, signature = stored_digest(audit_stack, written.key)
    kms = audit_stack.client("kms")
    key = kms.describe_key(KeyId=audit_stack.env["SEALPOST_AUDIT_SIGNING_KEY_ARN"])["KeyMetadata"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P384", "SIGN_VERIFY")
    assert document["signing_key"] == key["Arn"] and document["signing_algorithm"] == "ECDSA_SHA_384"
    public = load_der_public_key(kms.get_public_key(KeyId=key["Arn"])["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    message = f"sealpost-audit-digest/1\n{written.key}\n{hashlib.sha256(body).hexdigest()}\n-".encode()
    assert message == string_to_sign(written.key, body, None)
    public.verify(base64.b64decode(signature), message, ec.ECDSA(hashes.SHA384()))
    forged = body.replace(b'"objects":[{', b'"objects":[{"x":1,', 1)
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(signature), string_to_sign(written.key, forged, None), ec.ECDSA(hashes.SHA384()))


def test_a_period_is_digested_only_once_it_has_ended_and_settled(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    digests = writer(audit_stack)
    early = digests.write_due(at("2026-03-04T06:01"))
    assert all(d.digest.period.end <= at("2026-03-04T05:00") for d in early)
    (settled,) = digests.write_due(at("2026-03-04T06:03"))
    assert settled.key == "digests/dt=2026-03-04/20260304T050000Z_20260304T060000Z.json"
    assert len(settled.digest.objects) == 1


def test_empty_periods_get_a_digest_so_that_the_chain_has_no_gaps(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    record_at("2026-03-04T08:10Z")
    written = writer(audit_stack).write_due(at("2026-03-04T09:05"))
    assert [len(d.digest.objects) for d in written] == [1, 0, 0, 1]
    assert all(b.digest.previous == a.link for a, b in itertools.pairwise(written))


def test_with_no_records_at_all_the_chain_starts_with_the_last_complete_period(audit_stack: Any) -> None:
    (first,) = writer(audit_stack).write_due(at("2026-03-04T08:05"))
    assert first.key == "digests/dt=2026-03-04/20260304T070000Z_20260304T080000Z.json"
    assert first.digest.previous is None and first.digest.objects == ()


def test_running_twice_for_the_same_period_writes_one_digest(audit_stack: Any, record_at: Callable[..., Any]) -> None:
    record_at("2026-03-04T05:10Z")
    first = writer(audit_stack).write_due(at("2026-03-04T07:05"))
    again = writer(audit_stack).write_due(at("2026-03-04T07:05"))
    assert len(first) == 2 and again == []
    assert {key: len(versions) for key, versions in digest_versions(audit_stack).items()} == {d.key: 1 for d in first}


class StaleStore(AuditStore):
    """A store whose first look at the digests is from before another run wrote them (a race)."""

    def __init__(self, audit_stack: Any) -> None:
        super().__init__(audit_stack.audit_bucket, lambda: audit_stack.client("s3"))
        self.stale = True

    def day_prefixes(self, base: str) -> list[datetime]:
        return [] if self.stale and base == "digests/" else super().day_prefixes(base)

    def history(self, key: str) -> KeyHistory:
        if self.stale and key.startswith("digests/"):
            self.stale = False
            return KeyHistory(key)
        return super().history(key)


def test_two_runs_at_once_do_not_fork_the_chain(audit_stack: Any, record_at: Callable[..., Any]) -> None:
    record_at("2026-03-04T05:10Z")
    (winner,) = writer(audit_stack).write_due(at("2026-03-04T06:05"))
    (loser,) = writer(audit_stack, store=StaleStore(audit_stack)).write_due(at("2026-03-04T06:05"))
    # The late run's conditional write was refused; it continues from the digest that is there.
    assert (loser.key, loser.signature, loser.version_id) == (winner.key, winner.signature, winner.version_id)
    assert [len(v) for v in digest_versions(audit_stack).values()] == [1]
    (next_one,) = writer(audit_stack).write_due(at("2026-03-04T07:05"))
    assert next_one.digest.previous == winner.link


def test_catching_up_after_an_outage_is_bounded_per_run_and_keeps_the_chain(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T01:10Z")
    digests = writer(audit_stack, max_per_run=3)
    first = digests.write_due(at("2026-03-04T08:05"))
    second = digests.write_due(at("2026-03-04T08:05"))
    rest = digests.write_due(at("2026-03-04T08:05"))
    assert [len(first), len(second), len(rest)] == [3, 3, 1]
    chain = first + second + rest
    assert chain[0].digest.period.start == at("2026-03-04T01:00") and chain[-1].digest.period.end == at(
        "2026-03-04T08:00"
    )
    assert all(b.digest.previous == a.link for a, b in itertools.pairwise(chain))


def test_a_digest_period_can_be_shorter_than_an_hour(audit_stack: Any, record_at: Callable[..., Any]) -> None:
    record_at("2026-03-04T05:10Z")
    record_at("2026-03-04T05:20Z")
    written = writer(audit_stack, minutes=15).write_due(at("2026-03-04T06:05"))
    assert [(d.digest.period.start.minute, len(d.digest.objects)) for d in written] == [
        (0, 1),
        (15, 1),
        (30, 0),
        (45, 0),
    ]


# --- tampering the writer meets ---------------------------------------------------------------


def test_a_removed_digest_is_not_rewritten_the_next_links_its_original_and_the_removal_is_recorded(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    _, removed = writer(audit_stack).write_due(at("2026-03-04T07:05"))
    s3 = audit_stack.client("s3")
    with pytest.raises(ClientError) as refused:  # Object Lock: the version itself cannot be deleted
        s3.delete_object(Bucket=audit_stack.audit_bucket, Key=removed.key, VersionId=removed.version_id)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    s3.delete_object(Bucket=audit_stack.audit_bucket, Key=removed.key)  # but a delete marker can hide it
    (following,) = writer(audit_stack).write_due(at("2026-03-04T08:05"))
    assert following.digest.previous == removed.link
    assert len(digest_versions(audit_stack)[removed.key]) == 1
    (tamper,) = tamper_records(audit_stack)
    assert tamper["reason"] == "digest_removed" and tamper["detail"] == {"digest_key": removed.key}
    assert (tamper["actor"], tamper["actor_role"], tamper["outcome"]) == ("audit-digest", "system", "failure")


def test_records_changed_before_their_digest_are_digested_as_first_written_and_recorded(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    s3 = audit_stack.client("s3")
    (item,) = s3.list_objects_v2(Bucket=audit_stack.audit_bucket, Prefix="records/")["Contents"]
    original = s3.get_object(Bucket=audit_stack.audit_bucket, Key=item["Key"])
    changed = original["Body"].read().replace(b"access.denied", b"access.dented")
    s3.put_object(Bucket=audit_stack.audit_bucket, Key=item["Key"], Body=changed, ServerSideEncryption="aws:kms")
    (written,) = writer(audit_stack).write_due(at("2026-03-04T06:05"))
    (entry,) = written.digest.objects
    assert entry.version_id == original["VersionId"]
    (tamper,) = tamper_records(audit_stack)
    assert tamper["reason"] == "records_altered_before_digest"
    assert tamper["detail"] == {"digest_key": written.key, "changed_records": "1", "deleted_records": "0"}


def test_a_forged_object_at_a_digest_key_stops_the_chain_and_is_recorded(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    (real,) = writer(audit_stack).write_due(at("2026-03-04T06:05"))
    _, body, _ = stored_digest(audit_stack, real.key)
    forged_key = "digests/dt=2026-03-04/20260304T060000Z_20260304T070000Z.json"
    audit_stack.client("s3").put_object(  # written ahead by someone without the signing key
        Bucket=audit_stack.audit_bucket,
        Key=forged_key,
        Body=body.replace(b'_end":"2026-03-04T06', b'_end":"2026-03-04T07').replace(
            b'_start":"2026-03-04T05', b'_start":"2026-03-04T06'
        ),
        Metadata={"signature": real.signature},
        ServerSideEncryption="aws:kms",
    )
    for _ in range(2):  # every run refuses to link to it, and says so
        with pytest.raises(DigestChainError, match="not signed by the signing key"):
            writer(audit_stack).write_due(at("2026-03-04T08:05"))
    tampers = tamper_records(audit_stack)
    assert [(t["reason"], t["detail"]) for t in tampers] == [("digest_bad_signature", {"digest_key": forged_key})] * 2
    assert sorted(digest_versions(audit_stack)) == [real.key, forged_key]


def test_a_conflicting_digest_met_in_a_race_stops_the_chain_and_is_recorded(
    audit_stack: Any, record_at: Callable[..., Any]
) -> None:
    record_at("2026-03-04T05:10Z")
    key = "digests/dt=2026-03-04/20260304T050000Z_20260304T060000Z.json"
    audit_stack.client("s3").put_object(
        Bucket=audit_stack.audit_bucket, Key=key, Body=b'{"objects": []}', ServerSideEncryption="aws:kms"
    )
    with pytest.raises(DigestChainError, match="does not continue the chain"):
        writer(audit_stack, store=StaleStore(audit_stack)).write_due(at("2026-03-04T06:05"))
    (tamper,) = tamper_records(audit_stack)
    assert tamper["reason"] == "digest_conflict" and tamper["detail"] == {"digest_key": key}


def test_without_a_signing_key_no_digest_is_written(audit_stack: Any, record_at: Callable[..., Any]) -> None:
    record_at("2026-03-04T05:10Z")
    unsigned = DigestWriter(
        AuditStore(audit_stack.audit_bucket, lambda: audit_stack.client("s3")),
        SigningKey("", lambda: audit_stack.client("kms")),
        data_key_arn=audit_stack.env["SEALPOST_KMS_KEY_ARN"],
        period_minutes=60,
        audit=audit_stack.audit,
    )
    with pytest.raises(ConfigurationError):
        unsigned.write_due(at("2026-03-04T06:05"))
    assert digest_versions(audit_stack) == {}


# --- the scheduled function --------------------------------------------------------------------


def test_the_hourly_schedule_writes_the_digests_that_are_due(chalice_client: Client, stack: Any) -> None:
    from app import app

    with time_machine.travel("2026-03-04T05:10Z", tick=False):
        stack.services().audit.record(AuditEvent.ACCESS_DENIED, actor=Actor.anonymous(), request=RequestInfo("r"))
    (handler,) = [f for f in app.event_sources if getattr(f, "name", "") == "write_audit_digests"]
    assert handler.schedule_expression.to_string() == "cron(5 * * * ? *)"
    event = chalice_client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    with time_machine.travel("2026-03-04T07:05Z", tick=False):
        first = chalice_client.lambda_.invoke("write_audit_digests", event).payload
        again = chalice_client.lambda_.invoke("write_audit_digests", event).payload
    assert first == {
        "written": [
            "digests/dt=2026-03-04/20260304T050000Z_20260304T060000Z.json",
            "digests/dt=2026-03-04/20260304T060000Z_20260304T070000Z.json",
        ]
    }
    assert again == {"written": []}
