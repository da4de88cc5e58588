"""Attachment uploads through short-lived presigned POSTs to the staging bucket.

Browsers send files straight to S3, so a 25 MB message never passes API Gateway
(10 MB request limit) or a Lambda payload (6 MB). The upload's key holds the
uploader's user name, so only they can attach it. When a message is sent the app
reads the staged files, encrypts them into the message store and deletes every
version of the staged objects; a lifecycle rule removes anything left after a day.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import InvalidRequest, PayloadTooLarge, ServiceUnavailable

log = logging.getLogger(__name__)

UPLOAD_URL_SECONDS = 15 * 60
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _limit_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_in: int


@dataclass(frozen=True)
class StagedFile:
    upload_id: str
    data: bytes


class UploadService:
    def __init__(self, bucket: str, kms_key_arn: str, max_bytes: int, s3_factory: Callable[[], Any]) -> None:
        self._bucket = bucket
        self._kms_key_arn = kms_key_arn
        self._max_bytes = max_bytes
        self._s3_factory = s3_factory

    def _key(self, username: str, upload_id: str) -> str:
        return f"uploads/{username}/{upload_id}"

    def start(self, username: str, declared_size: Any) -> UploadTicket:
        """A presigned POST for one file of ``declared_size`` bytes (413 above the message limit)."""
        if not isinstance(declared_size, int) or isinstance(declared_size, bool) or declared_size < 1:
            raise InvalidRequest("Give the file's size in bytes (a whole number above zero).", field="size")
        if declared_size > self._max_bytes:
            raise PayloadTooLarge(
                f"Attachments may be at most {_limit_text(self._max_bytes)} per message.", field="size"
            )
        upload_id = secrets.token_urlsafe(16)
        key = self._key(username, upload_id)
        try:
            post = self._s3_factory().generate_presigned_post(
                Bucket=self._bucket,
                Key=key,
                Fields={
                    "x-amz-server-side-encryption": "aws:kms",
                    "x-amz-server-side-encryption-aws-kms-key-id": self._kms_key_arn,
                },
                Conditions=[
                    ["content-length-range", 1, declared_size],
                    {"x-amz-server-side-encryption": "aws:kms"},
                    {"x-amz-server-side-encryption-aws-kms-key-id": self._kms_key_arn},
                ],
                ExpiresIn=UPLOAD_URL_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("presign failed", extra={"error": type(exc).__name__})
            raise ServiceUnavailable() from None
        return UploadTicket(
            upload_id=upload_id,
            url=post["url"],
            fields=dict(post["fields"]),
            max_bytes=declared_size,
            expires_in=UPLOAD_URL_SECONDS,
        )

    def claim(self, username: str, upload_ids: Iterable[str]) -> list[StagedFile]:
        """Read the staged files of ``username``. Over the message limit: 413, and the files are deleted."""
        ids = list(upload_ids)
        for upload_id in ids:
            if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
                raise InvalidRequest("An attachment refers to an unknown upload.", field="attachments")
        if len(set(ids)) != len(ids):
            raise InvalidRequest("The same upload is attached twice.", field="attachments")
        s3 = self._s3_factory()
        sizes: dict[str, int] = {}
        for upload_id in ids:
            try:
                head = s3.head_object(Bucket=self._bucket, Key=self._key(username, upload_id))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise InvalidRequest(
                        "An attachment was not uploaded, or its upload has expired. Please attach it again.",
                        field="attachments",
                    ) from None
                raise ServiceUnavailable() from None
            sizes[upload_id] = int(head["ContentLength"])
        if sum(sizes.values()) > self._max_bytes:
            self.discard(username, ids)
            raise PayloadTooLarge(
                f"Attachments may be at most {_limit_text(self._max_bytes)} per message together. "
                "The uploaded files were removed.",
                field="attachments",
            )
        files = []
        for upload_id in ids:
            try:
                body = s3.get_object(Bucket=self._bucket, Key=self._key(username, upload_id))["Body"].read()
            except (ClientError, BotoCoreError):
                raise ServiceUnavailable() from None
            files.append(StagedFile(upload_id=upload_id, data=body))
        return files

    def discard(self, username: str, upload_ids: Iterable[str]) -> None:
        """Delete every version of the staged uploads (nothing plaintext stays behind)."""
        s3 = self._s3_factory()
        for upload_id in upload_ids:
            key = self._key(username, upload_id)
            try:
                listing = s3.list_object_versions(Bucket=self._bucket, Prefix=key)
                versions = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
                for version in versions:
                    if version["Key"] == key:
                        s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version["VersionId"])
            except (ClientError, BotoCoreError) as exc:
                # The lifecycle rule removes what is left within a day.
                log.warning("staged upload not deleted", extra={"error": type(exc).__name__})
