"""Signed digests of the audit trail, chained like CloudTrail's log file validation.

For each period (default one hour) a digest lists the key, version id, size and SHA-256
of every audit record object of the period, and names the previous digest's key and
signature. It is signed with a KMS asymmetric key (ECC_NIST_P384, ECDSA_SHA_384) and
stored under ``digests/`` in the audit bucket, where Object Lock keeps it. The first
digest starts the chain (no previous). Anyone holding the public key can check the chain.

What is signed is a short text (KMS signs up to 4 KB as a raw message; the digest body
can be larger)::

    sealpost-audit-digest/1
    <digest key>
    <hex SHA-256 of the digest body>
    <previous digest's signature, or "-">

The signature is the object's ``signature`` metadata (base64), as CloudTrail does it.

The writer is idempotent: each period has one fixed key, written with S3's conditional
``If-None-Match: *``, so a second run (or two runs at once) finds the digest already
there and continues from it instead of forking the chain. Periods without records get
a digest too, so a missing digest is always a finding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chalicelib import clock, metrics
from chalicelib.audit.layout import (
    DIGESTS_PREFIX,
    Period,
    check_period_minutes,
    digest_key,
    digest_period,
    period_floor,
)
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.audit.store import AuditStore, KeyHistory, StoredObject
from chalicelib.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

log = logging.getLogger(__name__)

FORMAT = "sealpost-audit-digest/1"
SIGNING_ALGORITHM: Literal["ECDSA_SHA_384"] = "ECDSA_SHA_384"
# A period is digested this long after it ends, so that writes still in flight land first.
SETTLE = timedelta(minutes=2)
# A run writes at most this many digests (catching up after an outage takes several runs).
MAX_PER_RUN = 24
DIGEST_ACTOR = Actor.system("audit-digest")


class InvalidDigest(ValueError):
    """An object under ``digests/`` that is not a well-formed, signed digest."""


class DigestChainError(Exception):
    """The chain cannot be continued safely (a digest in the way does not continue it)."""


@dataclass(frozen=True)
class DigestLink:
    key: str
    signature: str


@dataclass(frozen=True)
class DigestEntry:
    key: str
    version_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Digest:
    bucket: str
    period: Period
    created: datetime
    signing_key: str
    previous: DigestLink | None
    objects: tuple[DigestEntry, ...]

    @property
    def key(self) -> str:
        return digest_key(self.period)

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "bucket": self.bucket,
            "period_start": clock.iso(self.period.start),
            "period_end": clock.iso(self.period.end),
            "created": clock.iso(self.created),
            "signing_key": self.signing_key,
            "signing_algorithm": SIGNING_ALGORITHM,
            "previous": None
            if self.previous is None
            else {"key": self.previous.key, "signature": self.previous.signature},
            "objects": [
                {"key": e.key, "version_id": e.version_id, "sha256": e.sha256, "size": e.size} for e in self.objects
            ],
        }
        return (json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, body: bytes) -> Digest:
        try:
            document = json.loads(body)
            if document["format"] != FORMAT:
                raise InvalidDigest("unknown digest format")
            previous = document["previous"]
            return cls(
                bucket=str(document["bucket"]),
                period=Period(_time(document["period_start"]), _time(document["period_end"])),
                created=_time(document["created"]),
                signing_key=str(document["signing_key"]),
                previous=None if previous is None else DigestLink(str(previous["key"]), str(previous["signature"])),
                objects=tuple(
                    DigestEntry(str(o["key"]), str(o["version_id"]), str(o["sha256"]), int(o["size"]))
                    for o in document["objects"]
                ),
            )
        except InvalidDigest:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidDigest(f"not a digest ({type(exc).__name__})") from None


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def string_to_sign(key: str, body: bytes, previous: DigestLink | None) -> bytes:
    lines = [FORMAT, key, hashlib.sha256(body).hexdigest(), previous.signature if previous else "-"]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class SignedDigest:
    digest: Digest
    signature: str
    version_id: str
    body: bytes

    @property
    def key(self) -> str:
        return self.digest.key

    @property
    def link(self) -> DigestLink:
        return DigestLink(self.key, self.signature)

    @property
    def message(self) -> bytes:
        return string_to_sign(self.key, self.body, self.digest.previous)

    @classmethod
    def from_stored(cls, stored: StoredObject) -> SignedDigest:
        signature = stored.metadata.get("signature")
        if not signature:
            raise InvalidDigest("the digest carries no signature")
        digest = Digest.parse(stored.body)
        return cls(digest=digest, signature=signature, version_id=stored.version_id, body=stored.body)


class SigningKey:
    """The KMS asymmetric key: signs through KMS, checks signatures locally with its public key."""

    def __init__(self, key_id: str, kms_client_factory: Callable[[], KMSClient]) -> None:
        self._key_id = key_id
        self._kms = kms_client_factory
        self._arn: str | None = None
        self._public: ec.EllipticCurvePublicKey | None = None

    def _load(self) -> tuple[str, ec.EllipticCurvePublicKey]:
        if self._arn is None or self._public is None:
            if not self._key_id:
                raise ConfigurationError("SEALPOST_AUDIT_SIGNING_KEY_ARN is not set")
            response = self._kms().get_public_key(KeyId=self._key_id)
            public = load_der_public_key(response["PublicKey"])
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise ConfigurationError("the audit signing key is not an elliptic-curve key")
            arn = str(response["KeyId"])
            if not arn.startswith("arn:"):  # AWS answers with the ARN; some stand-ins with the bare id
                arn = self._kms().describe_key(KeyId=arn)["KeyMetadata"]["Arn"]
            self._arn, self._public = arn, public
        return self._arn, self._public

    @property
    def arn(self) -> str:
        """The key's ARN (an alias given as the key id is resolved)."""
        return self._load()[0]

    def sign(self, message: bytes) -> str:
        response = self._kms().sign(
            KeyId=self.arn, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return base64.b64encode(response["Signature"]).decode("ascii")

    def verifies(self, signed: SignedDigest) -> bool:
        """Whether ``signed`` was signed by this key (and says so)."""
        arn, public = self._load()
        if signed.digest.signing_key != arn:
            return False
        try:
            signature = base64.b64decode(signed.signature, validate=True)
            public.verify(signature, signed.message, ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def read_digest(store: AuditStore, key: str, version_id: str) -> SignedDigest:
    return SignedDigest.from_stored(store.read(key, version_id))


def is_digest_key(key: str) -> bool:
    return digest_period(key) is not None


class DigestWriter:
    """Writes the digest of every period that has ended, continuing the chain."""

    def __init__(
        self,
        store: AuditStore,
        signing_key: SigningKey,
        *,
        data_key_arn: str,
        period_minutes: int,
        audit: AuditLog,
        max_per_run: int = MAX_PER_RUN,
    ) -> None:
        self._store = store
        self._key = signing_key
        self._data_key_arn = data_key_arn
        self._minutes = check_period_minutes(period_minutes)
        self._audit = audit
        self._max_per_run = max_per_run

    def write_due(self, now: datetime) -> list[SignedDigest]:
        """Write the digests of every period that ended (and settled) by ``now``; the new ones, in order."""
        key = self._key
        limit = period_floor(now - SETTLE, self._minutes)
        latest = self._latest_before(limit)
        if latest is None:
            start, previous = self._chain_start(limit), None
        else:
            period, history = latest
            signed = self._check_latest(history, key)
            if period.end >= limit:
                return []
            self._report_removed_or_replaced(history)
            start, previous = period.end, signed.link
        written: list[SignedDigest] = []
        while start < limit and len(written) < self._max_per_run:
            period = Period(start, period_floor(start, self._minutes) + timedelta(minutes=self._minutes))
            signed = self._write(period, previous, key)
            written.append(signed)
            previous, start = signed.link, period.end
        return written

    # --- finding where the chain stands ---------------------------------------------------

    def _latest_before(self, limit: datetime) -> tuple[Period, KeyHistory] | None:
        """The newest digest (even one hidden by a delete marker) of a period starting before ``limit``."""
        for day in reversed(self._store.day_prefixes(DIGESTS_PREFIX)):
            if day >= limit:
                continue
            found = []
            for key, history in self._store.histories(f"{DIGESTS_PREFIX}dt={day:%Y-%m-%d}/").items():
                period = digest_period(key)
                if period is not None and history.original is not None and period.start < limit:
                    found.append((period, history))
            if found:
                return max(found, key=lambda item: item[0])
        return None

    def _chain_start(self, limit: datetime) -> datetime:
        """Where the first digest starts: the period of the oldest record, so every record is covered."""
        fallback = limit - timedelta(minutes=self._minutes)
        first = self._store.first_record_time()
        return fallback if first is None else min(period_floor(first, self._minutes), fallback)

    def _read_original(self, history: KeyHistory) -> SignedDigest | None:
        """The digest as first written (later versions are not the writer's), or None if unreadable."""
        original = history.original
        assert original is not None
        try:
            return read_digest(self._store, history.key, original.version_id)
        except InvalidDigest:
            return None

    def _check_latest(self, history: KeyHistory, key: SigningKey) -> SignedDigest:
        """The newest digest, read in its original version (the only one a writer wrote). One that
        cannot be read or is not signed by the key stops the chain: nothing is linked to a forgery."""
        signed = self._read_original(history)
        if signed is None or signed.key != history.key:
            self._tamper("digest_invalid", history.key)
            raise DigestChainError(f"the digest {history.key} cannot be read as the digest of its period")
        if not key.verifies(signed):
            self._tamper("digest_bad_signature", history.key)
            raise DigestChainError(f"the digest {history.key} is not signed by the signing key")
        return signed

    def _report_removed_or_replaced(self, history: KeyHistory) -> None:
        if history.hidden_since is not None:
            self._tamper("digest_removed", history.key)
        if history.later_versions:
            self._tamper("digest_replaced", history.key, later_versions=len(history.later_versions))

    # --- writing one digest ---------------------------------------------------------------

    def _write(self, period: Period, previous: DigestLink | None, key: SigningKey) -> SignedDigest:
        target = digest_key(period)
        existing = self._store.history(target)
        if existing.original is not None:
            return self._adopt(existing, period, previous, key)
        histories = self._store.record_histories(period.start, period.end)
        originals = sorted((k, h.original.version_id) for k, h in histories.items() if h.original is not None)
        entries = tuple(
            DigestEntry(stored.key, stored.version_id, stored.sha256, len(stored.body))
            for stored in self._store.read_many(originals)
        )
        digest = Digest(
            bucket=self._store.bucket,
            period=period,
            created=clock.now(),
            signing_key=key.arn,
            previous=previous,
            objects=entries,
        )
        body = digest.to_bytes()
        signature = key.sign(string_to_sign(target, body, previous))
        metadata = {"signature": signature, "signing-key": key.arn, "signing-algorithm": SIGNING_ALGORITHM}
        version_id = self._store.put_if_absent(target, body, metadata, self._data_key_arn)
        if version_id is None:  # another run wrote this period's digest a moment ago
            return self._adopt(self._store.history(target), period, previous, key)
        changed = sum(1 for h in histories.values() if h.original is not None and h.later_versions)
        hidden = sum(1 for h in histories.values() if h.original is not None and h.hidden_since is not None)
        if changed or hidden:
            # The digest lists each record's original version, so verification names these too.
            self._tamper("records_altered_before_digest", target, changed_records=changed, deleted_records=hidden)
        log.info("audit digest written", extra={"digest_key": target, "objects": len(entries)})
        metrics.count("DigestWritten")
        return SignedDigest(digest=digest, signature=signature, version_id=version_id, body=body)

    def _adopt(self, history: KeyHistory, period: Period, previous: DigestLink | None, key: SigningKey) -> SignedDigest:
        """Continue from a digest that is already there, if it is exactly what this run would link to."""
        signed = self._read_original(history)
        if (
            signed is None
            or signed.key != history.key
            or signed.digest.period != period
            or signed.digest.previous != previous
            or not key.verifies(signed)
        ):
            self._tamper("digest_conflict", history.key)
            raise DigestChainError(f"the digest {history.key} already exists and does not continue the chain")
        self._report_removed_or_replaced(history)
        return signed

    def _tamper(self, reason: str, digest: str, **counts: int) -> None:
        log.error("audit tampering detected", extra={"reason": reason, "digest_key": digest})
        self._audit.record(
            AuditEvent.TAMPER_DETECTED,
            actor=DIGEST_ACTOR,
            request=RequestInfo.system(),
            outcome=Outcome.FAILURE,
            reason=reason,
            detail={"digest_key": digest, **counts},
        )
