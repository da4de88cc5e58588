"""The encryptor: committing signed suite only, encryption context checked, bindings sealed, caching."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aws_encryption_sdk
import boto3
import botocore.session
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from moto import mock_aws

from chalicelib.messaging.encryption import SUITE, Binding, Encryptor, IntegrityError, seal


@pytest.fixture
def kms_key() -> Iterator[str]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]


class CountingSession:
    """A botocore session that counts the KMS calls made through it."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.session = botocore.session.get_session()
        self.session.register("before-call.kms", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1


def test_round_trip_and_the_header_uses_the_signed_committing_suite(kms_key: str) -> None:
    encryptor = Encryptor(kms_key, "dep")
    binding = Binding("t1", "m1", "content")
    ciphertext = encryptor.encrypt(binding, b"lab results", purpose="content")
    assert b"lab results" not in ciphertext
    assert encryptor.decrypt(binding, ciphertext, purpose="content") == b"lab results"
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[kms_key])
    _, header = client.decrypt(source=ciphertext, key_provider=provider)
    assert header.algorithm == Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 == SUITE
    assert len(header.encrypted_data_keys) == 1
    context = header.encryption_context
    assert context["purpose"] == "content" and context["thread_id"] == "t1" and context["deployment"] == "dep"
    assert "m1" not in context.values()  # the message id is not in the context: it would defeat the cache


def test_a_ciphertext_of_another_suite_is_refused(kms_key: str) -> None:
    binding = Binding("t1", "m1", "content")
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[kms_key])
    unsigned, _ = client.encrypt(
        source=seal(binding, b"x"),
        key_provider=provider,
        encryption_context={"purpose": "content", "thread_id": "t1", "deployment": "dep"},
        algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    )
    with pytest.raises(IntegrityError):
        Encryptor(kms_key, "dep").decrypt(binding, unsigned, purpose="content")


@pytest.mark.parametrize(
    ("purpose", "thread", "deployment"),
    [("attachment", "t1", "dep"), ("content", "t2", "dep"), ("content", "t1", "other")],
)
def test_the_encryption_context_is_checked_after_decrypt(
    kms_key: str, purpose: str, thread: str, deployment: str
) -> None:
    ciphertext = Encryptor(kms_key, "dep").encrypt(Binding("t1", "m1", "content"), b"x", purpose="content")
    with pytest.raises(IntegrityError):
        Encryptor(kms_key, deployment).decrypt(Binding(thread, "m1", "content"), ciphertext, purpose=purpose)


def test_a_ciphertext_bound_to_another_message_is_refused(kms_key: str) -> None:
    encryptor = Encryptor(kms_key, "dep")
    ciphertext = encryptor.encrypt(Binding("t1", "m1", "content"), b"x", purpose="content")
    with pytest.raises(IntegrityError):
        encryptor.decrypt(Binding("t1", "m2", "content"), ciphertext, purpose="content")
    with pytest.raises(IntegrityError):
        encryptor.decrypt(Binding("t1", "m1", "attachment:a"), ciphertext, purpose="content")


def test_any_changed_byte_is_refused(kms_key: str) -> None:
    encryptor = Encryptor(kms_key, "dep")
    binding = Binding("t1", "m1", "content")
    ciphertext = encryptor.encrypt(binding, b"x" * 100, purpose="content")
    for position in (10, len(ciphertext) // 2, len(ciphertext) - 5):
        changed = bytearray(ciphertext)
        changed[position] ^= 0x40
        with pytest.raises(IntegrityError):
            encryptor.decrypt(binding, bytes(changed), purpose="content")


def test_caching_keeps_kms_calls_per_thread_not_per_message(kms_key: str) -> None:
    # Acceptance: 1,000 messages over 50 threads, sent then read in one warm process,
    # make at most 60 GenerateDataKey and 60 Decrypt calls.
    counter = CountingSession()
    encryptor = Encryptor(kms_key, "dep", lambda: counter.session)
    sent = []
    for n in range(1000):
        binding = Binding(f"thread-{n % 50}", f"message-{n}", "content")
        sent.append((binding, encryptor.encrypt(binding, b"m" * 1024, purpose="content")))
    for binding, ciphertext in sent:
        assert encryptor.decrypt(binding, ciphertext, purpose="content") == b"m" * 1024
    assert counter.calls.get("GenerateDataKey", 0) <= 60
    assert counter.calls.get("Decrypt", 0) <= 60
    assert counter.calls.get("GenerateDataKey", 0) >= 50  # one data key per thread context, at least


def test_a_data_key_encrypts_at_most_a_hundred_messages(kms_key: str) -> None:
    counter = CountingSession()
    encryptor = Encryptor(kms_key, "dep", lambda: counter.session)
    for n in range(250):
        encryptor.encrypt(Binding("one-thread", f"m{n}", "content"), b"x", purpose="content")
    assert counter.calls["GenerateDataKey"] == 3
