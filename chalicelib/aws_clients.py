"""Lazily built, shared boto3 clients.

Clients are created on first use, never at import time: a client made at import
escapes ``moto.mock_aws`` and would talk to real AWS. ``AWS_ENDPOINT_URL`` (read by
boto3 itself) points them at the local stand-in in ``make run``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_session: boto3.session.Session | None = None


def _shared_session() -> boto3.session.Session:
    """One session per process (call with the lock held): it loads botocore's service models once."""
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


def client(service: str, region: str) -> Any:
    """A cached boto3 client for ``service`` in ``region``."""
    key = (service, region)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _shared_session().client(service, region_name=region, config=_CONFIG)  # type: ignore[call-overload]
            _clients[key] = found
        return found


def s3(region: str) -> S3Client:
    return cast("S3Client", client("s3", region))


def s3_presigner(region: str) -> S3Client:
    """An S3 client for presigned URLs and POSTs (Signature Version 4, required by KMS-encrypted objects)."""
    key = ("s3-presigner", region)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _shared_session().client(
                "s3", region_name=region, config=_CONFIG.merge(Config(signature_version="s3v4"))
            )
            _clients[key] = found
        return cast("S3Client", found)


def kms(region: str) -> KMSClient:
    return cast("KMSClient", client("kms", region))


def sesv2(region: str) -> SESV2Client:
    return cast("SESV2Client", client("sesv2", region))


def secretsmanager(region: str) -> SecretsManagerClient:
    return cast("SecretsManagerClient", client("secretsmanager", region))


def reset() -> None:
    """Forget every cached client (tests call this between AWS stand-ins)."""
    global _session
    with _lock:
        _clients.clear()
        _resources.clear()
        _session = None


_resources: dict[tuple[str, str], Any] = {}


def dynamodb_table(name: str, region: str) -> Any:
    """A DynamoDB ``Table`` resource (Python types in and out) sharing one cached resource per region."""
    key = ("dynamodb", region)
    with _lock:
        resource = _resources.get(key)
        if resource is None:
            resource = _shared_session().resource("dynamodb", region_name=region, config=_CONFIG)
            _resources[key] = resource
    return resource.Table(name)
