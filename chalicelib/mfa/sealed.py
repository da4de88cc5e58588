"""The TOTP seed sealed with the AWS Encryption SDK under the deployment's KMS key, as the product
seals message content (``messaging.encryption``): ``StrictAwsKmsMasterKeyProvider`` with the key
ARN, commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT, one encrypted data key, and only the signed,
key-committing suite. The encryption context is {deployment, purpose: "mfa-totp", email_sha256}; the
SDK does not check it on decrypt, so it is compared here. No data-key cache: each address has its
own context, so a cache would never hit. A seed moved onto another address's item does not open.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aws_encryption_sdk
import botocore.session
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

from chalicelib.errors import Conflict, ServiceUnavailable

log = logging.getLogger(__name__)

SUITE = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
PURPOSE = "mfa-totp"


class SeedUnavailable(ServiceUnavailable):
    code = "second_factor_unavailable"
    default_message = "The second factor cannot be checked right now. Please try again shortly."
    retry_after_seconds = 10


class SeedRefused(Conflict):
    """The stored seed failed its checks (changed, moved or not ours): no code can be checked with it."""

    code = "second_factor_integrity"
    default_message = (
        "Your second factor cannot be checked. Please contact the associate with whom you regularly "
        "conduct business to reset it."
    )


def email_hash(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()


@dataclass
class SeedSealer:
    key_arn: str
    deployment: str
    botocore_session_factory: Callable[[], Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _client: Any = field(default=None, repr=False)

    def _parts(self) -> Any:
        with self._lock:
            if self._client is None:
                session = (self.botocore_session_factory or botocore.session.get_session)()
                provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
                    key_ids=[self.key_arn], botocore_session=session
                )
                client = aws_encryption_sdk.EncryptionSDKClient(
                    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, max_encrypted_data_keys=1
                )
                self._client = (client, provider)
            return self._client

    def context(self, email: str) -> dict[str, str]:
        return {"deployment": self.deployment, "purpose": PURPOSE, "email_sha256": email_hash(email)}

    def seal(self, email: str, seed: str) -> bytes:
        client, provider = self._parts()
        try:
            ciphertext, _header = client.encrypt(
                source=seed.encode(), key_provider=provider, encryption_context=self.context(email), algorithm=SUITE
            )
        except Exception as exc:
            log.warning("seed seal failed", extra={"error": type(exc).__name__})
            raise SeedUnavailable() from None
        return bytes(ciphertext)

    def open(self, email: str, sealed: bytes) -> str:
        client, provider = self._parts()
        try:
            plaintext, header = client.decrypt(source=sealed, key_provider=provider)
        except Exception as exc:
            log.warning("seed open refused", extra={"error": type(exc).__name__})
            raise SeedRefused() from None
        if header.algorithm != SUITE or not _context_matches(header.encryption_context, self.context(email)):
            raise SeedRefused()
        return bytes(plaintext).decode()


def _context_matches(found: Mapping[str, str], expected: Mapping[str, str]) -> bool:
    # The signed suite adds "aws-crypto-public-key"; nothing else may have been added.
    extra = set(found) - set(expected) - {"aws-crypto-public-key"}
    return not extra and all(found.get(k) == v for k, v in expected.items())
