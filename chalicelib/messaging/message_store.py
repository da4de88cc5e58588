"""Ciphertext objects in the messages bucket.

Keys hold ids only (``threads/<thread>/<message>/content`` …): never a subject, file
name or other PHI, and no S3 metadata is set. Every read is compared with the SHA-256
the record holds before anything is decrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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

    def get(self, stored: StoredObject) -> bytes:
        """The ciphertext, after checking it is byte for byte what the record says."""
        try:
            body: bytes = self.s3_factory().get_object(Bucket=self.bucket, Key=stored.key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise IntegrityError() from None
            log.warning("message store read failed", extra={"error": type(exc).__name__})
            raise StorageUnavailable("Storage is busy or unavailable right now. Please try again shortly.") from None
        except BotoCoreError as exc:
            log.warning("message store unreachable", extra={"error": type(exc).__name__})
            raise StorageUnavailable("Storage is busy or unavailable right now. Please try again shortly.") from None
        if len(body) != stored.size or sha256_hex(body) != stored.sha256:
            raise IntegrityError()
        return body
