"""Ciphertext objects in the messages bucket.

Keys hold ids only (``threads/<thread>/<message>/content`` …): never a subject, file
name or other PHI, and no S3 metadata is set. Every read is compared with the SHA-256
the record holds: before anything is decrypted, or, for a stream, at its end.

Large attachments move as streams: written with a multipart upload of ``PART_BYTES`` parts
(one part in memory at a time), read from S3's streaming body.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ServiceUnavailable
from chalicelib.messaging.encryption import IntegrityError, sha256_hex
from chalicelib.messaging.model import StoredObject

log = logging.getLogger(__name__)


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    default_message = "Storage is busy or unavailable right now. Nothing was sent; please try again shortly."


def subject_key(thread_id: str) -> str:
    return f"threads/{thread_id}/subject"


def content_key(thread_id: str, message_id: str) -> str:
    return f"threads/{thread_id}/{message_id}/content"


def attachment_key(thread_id: str, message_id: str, attachment_id: str) -> str:
    return f"threads/{thread_id}/{message_id}/attachments/{attachment_id}"


PART_BYTES = 8 * 1024 * 1024  # S3 parts are 5 MiB at least (but the last)
_READ_UNAVAILABLE = "Storage is busy or unavailable right now. Please try again shortly."


@dataclass(frozen=True)
class MessageStore:
    bucket: str
    kms_key_arn: str
    s3_factory: Callable[[], Any]

    def put(self, key: str, ciphertext: bytes) -> StoredObject:
        try:
            self.s3_factory().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=ciphertext,
                ContentType="application/octet-stream",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.kms_key_arn,
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("message store write failed", extra={"error": type(exc).__name__})
            raise StorageUnavailable() from None
        return StoredObject(key=key, sha256=sha256_hex(ciphertext), size=len(ciphertext))

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store ciphertext that arrives in chunks; one ``put`` when it is small, else a multipart upload."""
        s3 = self.s3_factory()
        digest, size, pending = hashlib.sha256(), 0, bytearray()
        upload: _Multipart | None = None
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                pending += chunk
                while len(pending) >= PART_BYTES:
                    upload = upload or _Multipart.start(s3, self.bucket, key, self.kms_key_arn)
                    upload.add(bytes(pending[:PART_BYTES]))
                    del pending[:PART_BYTES]
            if upload is None:
                return self.put(key, bytes(pending))
            if pending:
                upload.add(bytes(pending))
            upload.complete()
        except (ClientError, BotoCoreError) as exc:
            if upload is not None:
                upload.abort()
            log.warning("message store write failed", extra={"error": type(exc).__name__})
            raise StorageUnavailable() from None
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        return StoredObject(key=key, sha256=digest.hexdigest(), size=size)

    def open(self, stored: StoredObject) -> VerifiedBody:
        """The ciphertext as a stream; ``VerifiedBody.finish`` compares it with the record at its end."""
        return VerifiedBody(self._fetch(stored, whole=False), stored)

    def get(self, stored: StoredObject) -> bytes:
        """The ciphertext, after checking it is byte for byte what the record says."""
        body: bytes = self._fetch(stored, whole=True)
        if len(body) != stored.size or sha256_hex(body) != stored.sha256:
            raise IntegrityError()
        return body

    def _fetch(self, stored: StoredObject, *, whole: bool) -> Any:
        """The object's bytes (``whole``) or its body as a stream; a missing object is tampering."""
        try:
            body = self.s3_factory().get_object(Bucket=self.bucket, Key=stored.key)["Body"]
            return body.read() if whole else body
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise IntegrityError() from None
            log.warning("message store read failed", extra={"error": type(exc).__name__})
            raise StorageUnavailable(_READ_UNAVAILABLE) from None
        except BotoCoreError as exc:
            log.warning("message store unreachable", extra={"error": type(exc).__name__})
            raise StorageUnavailable(_READ_UNAVAILABLE) from None


class VerifiedBody:
    """A ciphertext object being read: counted and hashed as it goes, compared with its record at the end."""

    def __init__(self, body: Any, stored: StoredObject) -> None:
        self._body = body
        self._stored = stored
        self._digest = hashlib.sha256()
        self._size = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except (ClientError, BotoCoreError) as exc:
            log.warning("message store read failed", extra={"error": type(exc).__name__})
            raise StorageUnavailable(_READ_UNAVAILABLE) from None
        self._digest.update(data)
        self._size += len(data)
        if self._size > self._stored.size:
            raise IntegrityError()
        return data

    def finish(self) -> None:
        """Read what is left and refuse the object unless it is byte for byte what the record says."""
        while self.read(PART_BYTES):
            pass
        if self._size != self._stored.size or self._digest.hexdigest() != self._stored.sha256:
            raise IntegrityError()


@dataclass
class _Multipart:
    s3: Any
    bucket: str
    key: str
    upload_id: str
    parts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls, s3: Any, bucket: str, key: str, kms_key_arn: str) -> _Multipart:
        created = s3.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType="application/octet-stream",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_arn,
        )
        return cls(s3, bucket, key, str(created["UploadId"]))

    def add(self, data: bytes) -> None:
        number = len(self.parts) + 1
        sent = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def complete(self) -> None:
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except (ClientError, BotoCoreError) as exc:
            # The bucket's lifecycle rule removes incomplete uploads; nothing points at this one.
            log.warning("multipart upload not aborted", extra={"error": type(exc).__name__})
