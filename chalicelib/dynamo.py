"""Small helpers shared by the DynamoDB repositories."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ServiceUnavailable

log = logging.getLogger(__name__)

_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_conditional_failure(exc: BaseException) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


@contextmanager
def unavailable_on_outage(what: str) -> Iterator[None]:
    """Turn throttling and connection failures into ``ServiceUnavailable`` (503 with Retry-After)."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _TRANSIENT_CODES:
            log.warning("%s unavailable", what, extra={"error": error_code(exc)})
            raise ServiceUnavailable() from None
        raise
    except BotoCoreError as exc:
        log.warning("%s unreachable", what, extra={"error": type(exc).__name__})
        raise ServiceUnavailable() from None


def as_int(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, Decimal | int):
        return int(value)
    return int(str(value))
