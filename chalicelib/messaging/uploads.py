"""Attachment uploads through short-lived presigned POSTs to the staging bucket.

Browsers send files straight to S3, so a 100 MB message never passes API Gateway
(10 MB request limit) or a Lambda payload (6 MB). The upload's key holds the
uploader's user name, so only they can attach it. When a message is sent the app
reads the staged files, encrypts them into the message store and deletes every
version of the staged objects; a lifecycle rule removes anything left after a day.

Two kinds of ticket, one staging area:
- ``start`` (JSON API, used by scripts and the pages' script): the browser declares the
  size; the key is ``uploads/<user>/<upload id>`` and the client sends the file name
  with the message.
- ``start_form`` (pages without JavaScript): an HTML form posts the file straight to S3
  (browser-based POST). The browser's file name reaches S3 only through ``${filename}``
  in the key, so the key is ``uploads/<user>/<upload id>/<context>/<file name>``, where
  the context is the draft it belongs to (a thread id, or ``new``). S3 then redirects
  the browser back to the portal, whose page lists the files staged for that draft
  (``pending``).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import InvalidRequest, PayloadTooLarge, ServiceUnavailable

log = logging.getLogger(__name__)

UPLOAD_URL_SECONDS = 15 * 60
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_CONTEXT = re.compile(r"^(new|[0-9a-f]{32})$")
MAX_PENDING = 20
READ_BUFFER = 1024 * 1024


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
    """A file to attach: its size, and a way to read it (again) as a stream, never all at once."""

    upload_id: str
    size: int
    open: Callable[[], BinaryIO]

    @classmethod
    def of_bytes(cls, upload_id: str, data: bytes) -> StagedFile:
        """A file already in memory (an attachment of a mail the gateway parsed)."""
        return cls(upload_id, len(data), lambda: io.BytesIO(data))

    def read(self) -> bytes:
        """The whole file, for the few uses that need it in memory (a small attachment mailed over TLS)."""
        return self.open().read()


@dataclass(frozen=True)
class PendingUpload:
    """A file a browser posted to the staging bucket for a draft, not yet sent."""

    upload_id: str
    filename: str
    size: int


@dataclass(frozen=True)
class UploadService:
    bucket: str
    kms_key_arn: str
    max_bytes: int
    s3_factory: Callable[[], Any]

    def _key(self, username: str, upload_id: str) -> str:
        return f"uploads/{username}/{upload_id}"

    def _presign(self, key: str, fields: dict[str, str], conditions: list[Any]) -> dict[str, Any]:
        try:
            post: dict[str, Any] = self.s3_factory().generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={
                    "x-amz-server-side-encryption": "aws:kms",
                    "x-amz-server-side-encryption-aws-kms-key-id": self.kms_key_arn,
                    **fields,
                },
                Conditions=[
                    *conditions,
                    {"x-amz-server-side-encryption": "aws:kms"},
                    {"x-amz-server-side-encryption-aws-kms-key-id": self.kms_key_arn},
                    *({name: value} for name, value in fields.items()),
                ],
                ExpiresIn=UPLOAD_URL_SECONDS,
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("presign failed", extra={"error": type(exc).__name__})
            raise ServiceUnavailable() from None
        return post

    def start(self, username: str, declared_size: Any) -> UploadTicket:
        """A presigned POST for one file of ``declared_size`` bytes (413 above the message limit)."""
        if not isinstance(declared_size, int) or isinstance(declared_size, bool) or declared_size < 1:
            raise InvalidRequest("Give the file's size in bytes (a whole number above zero).", field="size")
        if declared_size > self.max_bytes:
            raise PayloadTooLarge(
                f"Attachments may be at most {_limit_text(self.max_bytes)} per message.", field="size"
            )
        upload_id = secrets.token_urlsafe(16)
        post = self._presign(self._key(username, upload_id), {}, [["content-length-range", 1, declared_size]])
        return UploadTicket(
            upload_id=upload_id,
            url=post["url"],
            fields=dict(post["fields"]),
            max_bytes=declared_size,
            expires_in=UPLOAD_URL_SECONDS,
        )

    def start_form(self, username: str, context: str, redirect_url: str) -> UploadTicket:
        """A presigned POST for an HTML form (no JavaScript): any file up to the message limit, stored
        under the draft ``context`` with the browser's file name; S3 answers with a 303 to ``redirect_url``."""
        if not _CONTEXT.match(context):
            raise InvalidRequest("Unknown draft.")
        upload_id = secrets.token_urlsafe(16)
        # boto3 turns the ``${filename}`` suffix into a "starts-with $key" condition.
        key = f"{self._key(username, upload_id)}/{context}/${{filename}}"
        post = self._presign(
            key,
            {"success_action_redirect": redirect_url},
            [["content-length-range", 1, self.max_bytes]],
        )
        return UploadTicket(
            upload_id=upload_id,
            url=post["url"],
            fields=dict(post["fields"]),
            max_bytes=self.max_bytes,
            expires_in=UPLOAD_URL_SECONDS,
        )

    def pending(self, username: str, context: str) -> list[PendingUpload]:
        """The files posted by form for the draft ``context`` and not sent yet, oldest first."""
        if not _CONTEXT.match(context):
            return []
        base = f"uploads/{username}/"
        found: list[tuple[str, PendingUpload]] = []
        try:
            pages = self.s3_factory().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            for page in pages:
                for item in page.get("Contents", []):
                    parts = item["Key"][len(base) :].split("/", 2)
                    if len(parts) == 3 and _UPLOAD_ID.match(parts[0]) and parts[1] == context and parts[2]:
                        upload = PendingUpload(parts[0], parts[2], int(item["Size"]))
                        found.append((str(item["LastModified"]), upload))
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable() from None
        return [upload for _, upload in sorted(found, key=lambda pair: pair[0])][:MAX_PENDING]

    def _staged_key(self, s3: Any, username: str, upload_id: str) -> tuple[str, int] | None:
        """The key and size of an upload: ``uploads/<user>/<id>`` or ``uploads/<user>/<id>/<context>/<name>``."""
        base = self._key(username, upload_id)
        try:
            listing = s3.list_objects_v2(Bucket=self.bucket, Prefix=base, MaxKeys=10)
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable() from None
        for item in listing.get("Contents", []):
            if item["Key"] == base or item["Key"].startswith(base + "/"):
                return item["Key"], int(item["Size"])
        return None

    def claim(self, username: str, upload_ids: Iterable[str]) -> list[StagedFile]:
        """The staged files of ``username``, in order, ready to be read. Over the message limit: 413, and
        the files are deleted."""
        ids = list(upload_ids)
        for upload_id in ids:
            if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
                raise InvalidRequest("An attachment refers to an unknown upload.", field="attachments")
        if len(set(ids)) != len(ids):
            raise InvalidRequest("The same upload is attached twice.", field="attachments")
        s3 = self.s3_factory()
        located: dict[str, tuple[str, int]] = {}
        for upload_id in ids:
            found = self._staged_key(s3, username, upload_id)
            if found is None:
                raise InvalidRequest(
                    "An attachment was not uploaded, or its upload has expired. Please attach it again.",
                    field="attachments",
                )
            located[upload_id] = found
        if sum(size for _, size in located.values()) > self.max_bytes:
            self.discard(username, ids)
            raise PayloadTooLarge(
                f"Attachments may be at most {_limit_text(self.max_bytes)} per message together. "
                "The uploaded files were removed.",
                field="attachments",
            )
        return [StagedFile(upload_id, size, self._opener(s3, key)) for upload_id, (key, size) in located.items()]

    def _opener(self, s3: Any, key: str) -> Callable[[], BinaryIO]:
        def open_staged() -> BinaryIO:
            try:
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"]
                return io.BufferedReader(_ReadFailuresAreUnavailable(body), buffer_size=READ_BUFFER)
            except (ClientError, BotoCoreError):
                raise ServiceUnavailable() from None

        return open_staged

    def discard(self, username: str, upload_ids: Iterable[str]) -> None:
        """Delete every version of the staged uploads (nothing plaintext stays behind)."""
        s3 = self.s3_factory()
        for upload_id in upload_ids:
            key = self._key(username, upload_id)
            try:
                listing = s3.list_object_versions(Bucket=self.bucket, Prefix=key)
                versions = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
                for version in versions:
                    if version["Key"] == key or version["Key"].startswith(key + "/"):
                        s3.delete_object(Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"])
            except (ClientError, BotoCoreError) as exc:
                # The lifecycle rule removes what is left within a day.
                log.warning("staged upload not deleted", extra={"error": type(exc).__name__})


@dataclass(eq=False)
class _ReadFailuresAreUnavailable(io.RawIOBase):
    """S3's streaming body, whose read failures become ``ServiceUnavailable`` (503, nothing sent)."""

    body: Any

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self.body.read(None if size < 0 else size)
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable() from None
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
