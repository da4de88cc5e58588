"""Read access to the audit bucket: the version history of each key, and object contents.

Every audit object is written once under a new key, so a key with more than one version,
or whose newest entry is a delete marker, has been tampered with. Object Lock in
compliance mode keeps every version, so the original stays readable by version id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.audit.layout import day_of_prefix, days_between, record_day_prefix, record_hour_prefix, record_time
from chalicelib.audit.records import RECORDS_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Objects are fetched in parallel; boto3 clients are safe to share between threads.
READ_THREADS = 16


@dataclass(frozen=True)
class Version:
    version_id: str
    written: datetime
    size: int


@dataclass
class KeyHistory:
    """What S3 holds for one key: its versions, oldest first, and its delete markers."""

    key: str
    versions: list[Version] = field(default_factory=list)
    delete_markers: list[datetime] = field(default_factory=list)
    hidden_since: datetime | None = None  # set when the newest entry is a delete marker

    @property
    def original(self) -> Version | None:
        return self.versions[0] if self.versions else None

    @property
    def later_versions(self) -> list[Version]:
        return self.versions[1:]

    @property
    def current(self) -> Version | None:
        return None if self.hidden_since is not None or not self.versions else self.versions[-1]


@dataclass(frozen=True)
class StoredObject:
    key: str
    version_id: str
    body: bytes
    metadata: Mapping[str, str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class AuditStore:
    bucket: str
    s3_factory: Callable[[], S3Client]

    # --- listing -----------------------------------------------------------------------

    def histories(self, prefix: str) -> dict[str, KeyHistory]:
        """Every key under ``prefix`` with its full version history."""
        found: dict[str, KeyHistory] = {}
        paginator = self.s3_factory().get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                history = found.setdefault(item["Key"], KeyHistory(item["Key"]))
                # S3 lists each key's versions newest first.
                history.versions.insert(0, Version(item["VersionId"], item["LastModified"], int(item.get("Size", 0))))
            for marker in page.get("DeleteMarkers", []):
                history = found.setdefault(marker["Key"], KeyHistory(marker["Key"]))
                history.delete_markers.append(marker["LastModified"])
                if marker["IsLatest"]:
                    history.hidden_since = marker["LastModified"]
        return found

    def history(self, key: str) -> KeyHistory:
        return self.histories(key).get(key) or KeyHistory(key)

    def day_prefixes(self, base: str) -> list[datetime]:
        """The days that have a ``<base>dt=YYYY-MM-DD/`` prefix (any version, even hidden), in order."""
        days = []
        paginator = self.s3_factory().get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                day = day_of_prefix(common["Prefix"])
                if day is not None:
                    days.append(day)
        return sorted(days)

    def first_record_time(self) -> datetime | None:
        """When the trail's oldest record was written (its key's time), or None for an empty trail."""
        for day in self.day_prefixes(RECORDS_PREFIX):
            times = [
                moment
                for key, history in self.histories(record_day_prefix(day)).items()
                if history.original is not None and (moment := record_time(key)) is not None
            ]
            if times:
                return min(times)
        return None

    def first_key(self, prefix: str, accept: Callable[[str], bool] = lambda _key: True) -> str | None:
        """The smallest key under ``prefix`` that has an object version and that ``accept`` accepts."""
        paginator = self.s3_factory().get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": 100}):
            keys = sorted(v["Key"] for v in page.get("Versions", []) if accept(v["Key"]))
            if keys:
                return keys[0]
        return None

    def record_histories(self, start: datetime, end: datetime) -> dict[str, KeyHistory]:
        """The history of every record key whose time lies in ``[start, end)`` (listed by hour for
        short spans, by day for long ones)."""
        if end - start <= timedelta(hours=6):
            hour = start.replace(minute=0, second=0, microsecond=0)
            prefixes = []
            while hour < end:
                prefixes.append(record_hour_prefix(hour))
                hour += timedelta(hours=1)
        else:
            prefixes = [record_day_prefix(day) for day in days_between(start, end)]
        found: dict[str, KeyHistory] = {}
        for prefix in prefixes:
            for key, history in self.histories(prefix).items():
                moment = record_time(key)
                if moment is not None and start <= moment < end:
                    found[key] = history
        return found

    def current_record_keys(self, start: datetime, end: datetime) -> list[str]:
        """The keys of the records in ``[start, end)`` as a reader (or Athena) sees them now."""
        keys = []
        paginator = self.s3_factory().get_paginator("list_objects_v2")
        for day in days_between(start, end):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=record_day_prefix(day)):
                for item in page.get("Contents", []):
                    moment = record_time(item["Key"])
                    if moment is not None and start <= moment < end:
                        keys.append(item["Key"])
        return sorted(keys)

    # --- reading -----------------------------------------------------------------------

    def read(self, key: str, version_id: str | None = None) -> StoredObject:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id is not None:
            request["VersionId"] = version_id
        response = self.s3_factory().get_object(**request)
        return StoredObject(
            key=key,
            version_id=str(response.get("VersionId", version_id or "")),
            body=response["Body"].read(),
            metadata=dict(response.get("Metadata", {})),
        )

    def read_many(self, wanted: Iterable[tuple[str, str | None]]) -> list[StoredObject]:
        """Read ``(key, version_id)`` pairs in parallel; results come in the order asked."""
        items = list(wanted)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(items))) as pool:
            return list(pool.map(lambda item: self.read(*item), items))

    def records(self, keys: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """The records stored under ``keys`` (current versions), as ``(key, record)`` pairs."""
        for stored in self.read_many((key, None) for key in keys):
            for line in stored.body.decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield stored.key, record

    # --- writing -----------------------------------------------------------------------

    def put_if_absent(self, key: str, body: bytes, metadata: Mapping[str, str], kms_key_arn: str) -> str | None:
        """Store ``body`` under ``key`` unless an object is already there; the new version id, or
        ``None`` when another writer got there first (S3 conditional write, If-None-Match)."""
        try:
            response = self.s3_factory().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata=dict(metadata),
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=kms_key_arn,
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return None
            raise
        return str(response.get("VersionId", ""))
