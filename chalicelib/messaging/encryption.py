"""Envelope encryption of message content with the AWS Encryption SDK and KMS.

- ``StrictAwsKmsMasterKeyProvider`` with the key ARN; commitment policy
  REQUIRE_ENCRYPT_REQUIRE_DECRYPT; at most one encrypted data key per message.
- Only the signed, key-committing suite AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
  is produced and accepted.
- A caching materials manager (max age 300 s, at most 100 messages per data key).
  The cache is keyed by the encryption context, so the context is per thread and
  purpose (plus deployment), never per message: a per-message context would make one
  KMS call per message.
- The SDK does not check the encryption context on decrypt; we do, after every decrypt.
- Each plaintext is sealed with its binding (thread, message, part) before encryption,
  and the binding is compared after decryption, so a ciphertext moved onto another
  message's record is refused even though the context (per thread) would match.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aws_encryption_sdk
import botocore.session
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from botocore.exceptions import BotoCoreError

from chalicelib.errors import SealpostError, ServiceUnavailable

log = logging.getLogger(__name__)

SUITE = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
CACHE_MAX_AGE_SECONDS = 300.0
CACHE_MAX_MESSAGES = 100
CACHE_CAPACITY = 1000
# Larger frames than the SDK's 4 KiB default cut per-frame overhead on big attachments
# (measured with `make bench`); each frame is still authenticated on its own.
FRAME_LENGTH = 64 * 1024

_SEAL_MAGIC = b"SPv1"
_UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "RequestLimitExceeded",
        "KMSInternalException",
        "DependencyTimeoutException",
        "ServiceUnavailableException",
        "InternalFailure",
        "DisabledException",
        "KMSInvalidStateException",
        "KeyUnavailableException",
    }
)


class EncryptionUnavailable(ServiceUnavailable):
    code = "encryption_unavailable"
    default_message = "Encryption is busy or unavailable right now. Nothing was stored; please try again shortly."
    retry_after_seconds = 10


class IntegrityError(SealpostError):
    """Stored ciphertext failed a check: changed, swapped or not ours. No plaintext is returned."""

    code = "integrity_check_failed"
    default_message = (
        "This item failed its integrity check and cannot be shown. The incident has been recorded; "
        "please contact the plan's support."
    )


@dataclass(frozen=True)
class Binding:
    """What a ciphertext belongs to. Sealed inside the plaintext, checked after decryption."""

    thread_id: str
    message_id: str
    part: str

    def as_json(self) -> bytes:
        return json.dumps({"t": self.thread_id, "m": self.message_id, "p": self.part}, sort_keys=True).encode()


def seal_header(binding: Binding) -> bytes:
    header = binding.as_json()
    return _SEAL_MAGIC + struct.pack(">H", len(header)) + header


def seal(binding: Binding, payload: bytes) -> bytes:
    return seal_header(binding) + payload


def unseal(binding: Binding, plaintext: bytes) -> bytes:
    if plaintext[:4] != _SEAL_MAGIC or len(plaintext) < 6:
        raise IntegrityError()
    (size,) = struct.unpack(">H", plaintext[4:6])
    if plaintext[6 : 6 + size] != binding.as_json():
        raise IntegrityError()
    return plaintext[6 + size :]


class Readable(Protocol):
    """What a stream of plaintext or ciphertext must do: give the next bytes, ``b""`` at its end."""

    def read(self, size: int = -1, /) -> bytes: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _KmsTrouble(threading.local):
    """Whether a KMS call on this thread failed for availability reasons.

    The Encryption SDK replaces KMS errors on decrypt with a bare "unable to decrypt",
    so the KMS client's own events tell a throttled or unreachable KMS (503, retry)
    apart from a data key that does not decrypt (tampering).
    """

    seen: bool = False

    def on_response(self, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        if (parsed or {}).get("Error", {}).get("Code") in _UNAVAILABLE_CODES:
            self.seen = True

    def on_exception(self, exception: BaseException | None = None, **_: Any) -> None:
        if isinstance(exception, BotoCoreError):
            self.seen = True


class Encryptor:
    """Encrypts and decrypts sealed payloads under one KMS key, for one deployment."""

    def __init__(
        self,
        key_arn: str,
        deployment: str,
        botocore_session_factory: Callable[[], Any] | None = None,
        *,
        cache_max_age: float = CACHE_MAX_AGE_SECONDS,
        cache_max_messages: int = CACHE_MAX_MESSAGES,
    ) -> None:
        self._key_arn = key_arn
        self._deployment = deployment
        self._session_factory = botocore_session_factory
        self._cache_max_age = cache_max_age
        self._cache_max_messages = cache_max_messages
        self._lock = threading.Lock()
        self._built: tuple[Any, Any] | None = None
        self._trouble = _KmsTrouble()

    def _parts(self) -> tuple[Any, Any]:
        # Built on first use (the provider makes KMS clients), then shared: the cache
        # only helps when it lives as long as the Lambda container.
        with self._lock:
            if self._built is None:
                session = (self._session_factory or botocore.session.get_session)()
                session.register("after-call.kms", self._trouble.on_response)
                session.register("after-call-error.kms", self._trouble.on_exception)
                provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
                    key_ids=[self._key_arn], botocore_session=session
                )
                materials = aws_encryption_sdk.CachingCryptoMaterialsManager(
                    master_key_provider=provider,
                    cache=aws_encryption_sdk.LocalCryptoMaterialsCache(CACHE_CAPACITY),
                    max_age=self._cache_max_age,
                    max_messages_encrypted=self._cache_max_messages,
                )
                client = aws_encryption_sdk.EncryptionSDKClient(
                    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
                    max_encrypted_data_keys=1,
                )
                self._built = (client, materials)
            return self._built

    def context(self, purpose: str, thread_id: str) -> dict[str, str]:
        return {"purpose": purpose, "thread_id": thread_id, "deployment": self._deployment}

    def encrypt(self, binding: Binding, payload: bytes, *, purpose: str) -> bytes:
        client, materials = self._parts()
        try:
            ciphertext, _header = client.encrypt(
                source=seal(binding, payload),
                materials_manager=materials,
                encryption_context=self.context(purpose, binding.thread_id),
                algorithm=SUITE,
                frame_length=FRAME_LENGTH,
            )
        except Exception as exc:
            log.warning("encrypt failed", extra={"error": type(exc).__name__})
            raise EncryptionUnavailable() from None
        return bytes(ciphertext)

    def decrypt(self, binding: Binding, ciphertext: bytes, *, purpose: str) -> bytes:
        client, materials = self._parts()
        self._trouble.seen = False
        try:
            plaintext, header = client.decrypt(source=ciphertext, materials_manager=materials)
        except Exception as exc:
            if self._trouble.seen:
                log.warning("decrypt unavailable", extra={"error": type(exc).__name__})
                raise EncryptionUnavailable() from None
            log.warning("decrypt refused", extra={"error": type(exc).__name__})
            raise IntegrityError() from None
        if header.algorithm != SUITE or not _context_matches(
            header.encryption_context, self.context(purpose, binding.thread_id)
        ):
            raise IntegrityError()
        return unseal(binding, bytes(plaintext))

    # --- streams: large attachments, never whole in memory -----------------------------------

    def encrypt_stream(self, binding: Binding, source: Readable, length: int, *, purpose: str) -> Iterator[bytes]:
        """Ciphertext of the ``length`` bytes of ``source``, sealed like ``encrypt``, in chunks.

        The length is given so that the data-key cache still applies (the SDK skips the cache
        for a message of unknown length). Errors of ``source`` itself pass through unchanged.
        """
        client, materials = self._parts()
        header = seal_header(binding)
        sealed = _Concatenated(source, header)
        try:
            encryptor = client.stream(
                mode="e",
                source=sealed,
                source_length=len(header) + length,
                materials_manager=materials,
                encryption_context=self.context(purpose, binding.thread_id),
                algorithm=SUITE,
                frame_length=FRAME_LENGTH,
            )
            with encryptor:
                while chunk := self._step(encryptor):
                    yield chunk
        except _SourceFailed as failed:
            raise failed.original from None

    def decrypt_stream(self, binding: Binding, source: Readable, *, purpose: str) -> Iterator[bytes]:
        """The plaintext of a ciphertext stream, in chunks, after the same checks as ``decrypt``.

        Every frame is authenticated before it is released; the signature over the whole message
        is checked at its end, so a consumer must treat an ``IntegrityError`` raised late as
        "discard what you received" (the streaming download aborts the response).
        """
        client, materials = self._parts()
        self._trouble.seen = False
        checked = _SourceGuard(source)
        try:
            decryptor = client.stream(mode="d", source=checked, materials_manager=materials)
            first = self._decrypted(decryptor, STREAM_CHUNK)
            if decryptor.header.algorithm != SUITE or not _context_matches(
                decryptor.header.encryption_context, self.context(purpose, binding.thread_id)
            ):
                raise IntegrityError()
            head = seal_header(binding)
            while len(first) < len(head) and (more := self._decrypted(decryptor, STREAM_CHUNK)):
                first += more
            if first[: len(head)] != head:
                raise IntegrityError()
            rest = first[len(head) :]
            while rest:
                yield rest
                rest = self._decrypted(decryptor, STREAM_CHUNK)
            self._closed(decryptor)
        except _SourceFailed as failed:
            raise failed.original from None

    def _step(self, encryptor: Any) -> bytes:
        try:
            return bytes(encryptor.read(STREAM_CHUNK))
        except _SourceFailed:
            raise
        except Exception as exc:
            log.warning("encrypt failed", extra={"error": type(exc).__name__})
            raise EncryptionUnavailable() from None

    def _decrypted(self, decryptor: Any, size: int) -> bytes:
        try:
            return bytes(decryptor.read(size))
        except _SourceFailed:
            raise
        except Exception as exc:
            if self._trouble.seen:
                log.warning("decrypt unavailable", extra={"error": type(exc).__name__})
                raise EncryptionUnavailable() from None
            log.warning("decrypt refused", extra={"error": type(exc).__name__})
            raise IntegrityError() from None

    @staticmethod
    def _closed(decryptor: Any) -> None:
        try:
            decryptor.close()  # refuses a message whose footer (the signature) was not read
        except Exception as exc:
            log.warning("decrypt refused", extra={"error": type(exc).__name__})
            raise IntegrityError() from None


# Plaintext and ciphertext move in pieces of this size (a multiple of the frame length).
STREAM_CHUNK = 4 * FRAME_LENGTH


class _SourceFailed(Exception):
    """A failure of the stream being encrypted or decrypted (S3), carried through the SDK unchanged."""

    def __init__(self, original: Exception) -> None:
        super().__init__(type(original).__name__)
        self.original = original


@dataclass(eq=False)
class _SourceGuard(io.RawIOBase):
    """A readable view of ``source`` whose own failures the SDK cannot mistake for bad ciphertext."""

    source: Readable

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.source.read(len(buffer))
        except Exception as exc:
            raise _SourceFailed(exc) from None
        buffer[: len(data)] = data
        return len(data)


@dataclass(eq=False)
class _Concatenated(_SourceGuard):
    """The seal header, then ``source``: what is encrypted, read as one stream."""

    head: bytes

    def readinto(self, buffer: Any) -> int:
        if self.head:
            taken, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
            buffer[: len(taken)] = taken
            return len(taken)
        return super().readinto(buffer)


def _context_matches(found: Mapping[str, str], expected: Mapping[str, str]) -> bool:
    # The signed suite adds "aws-crypto-public-key"; every key of ours must be present and equal,
    # and nothing else may have been added.
    extra = set(found) - set(expected) - {"aws-crypto-public-key"}
    return not extra and all(found.get(k) == v for k, v in expected.items())
