"""The TOTP seed is stored only sealed with the Encryption SDK, bound to its deployment, purpose and
mail address."""

from __future__ import annotations

import base64
from typing import Any

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk.identifiers import CommitmentPolicy

from chalicelib.accounts.model import Account
from chalicelib.mfa.sealed import SeedRefused, SeedSealer, email_hash
from tests.support import SECOND_FACTORS, all_dynamodb_items


def test_the_totp_seed_is_encrypted(partner: Account, stack: Any) -> None:
    seed = SECOND_FACTORS.seeds[partner.email]
    services = stack.services()
    stored = services.second_factor.factors.get(partner.email).totp_seed
    assert stored is not None and seed.encode() not in stored
    everything = repr(all_dynamodb_items(stack.client("dynamodb")))
    assert seed not in everything and base64.b64encode(seed.encode()).decode() not in everything
    # It opens with the deployment's key and context only, and holds exactly the seed.
    assert services.second_factor.sealer.open(partner.email, stored) == seed
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[stack.env["SEALPOST_KMS_KEY_ARN"]], botocore_session=botocore.session.get_session()
    )
    _plaintext, header = client.decrypt(source=stored, key_provider=provider)
    context = dict(header.encryption_context)
    context.pop("aws-crypto-public-key")
    assert context == {"deployment": "sealpost-test", "purpose": "mfa-totp", "email_sha256": email_hash(partner.email)}


def test_a_seed_moved_to_another_address_or_deployment_does_not_open(partner: Account, stack: Any) -> None:
    services = stack.services()
    stored = services.second_factor.factors.get(partner.email).totp_seed
    assert stored is not None
    with pytest.raises(SeedRefused):
        services.second_factor.sealer.open("mallory@clinic.example", stored)
    with pytest.raises(SeedRefused):
        SeedSealer(stack.env["SEALPOST_KMS_KEY_ARN"], "another-stack").open(partner.email, stored)
    with pytest.raises(SeedRefused):
        services.second_factor.sealer.open(partner.email, stored[:-1] + bytes([stored[-1] ^ 1]))
