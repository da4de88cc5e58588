"""Small helpers shared by the DynamoDB repositories."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


class TransactionCancelled(Exception):
    """A transaction's condition failed; ``reasons`` holds one code per item (``None`` when it was fine)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons


class Transaction:
    """A TransactWriteItems batch (up to 100 items, any tables), with Python types in and out."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, table: str, item: dict[str, Any], condition: str | None = "attribute_not_exists(pk)") -> None:
        entry: dict[str, Any] = {"TableName": table, "Item": item}
        if condition:
            entry["ConditionExpression"] = condition
        self.items.append({"Put": entry})

    def update(
        self,
        table: str,
        key: dict[str, Any],
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        entry: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression}
        if condition:
            entry["ConditionExpression"] = condition
        if names:
            entry["ExpressionAttributeNames"] = names
        if values:
            entry["ExpressionAttributeValues"] = values
        self.items.append({"Update": entry})

    def execute(self, resource_client: Any) -> None:
        """Run it with the *resource's* client (``table.meta.client``), which serialises Python types."""
        if len(self.items) > 100:
            raise ValueError("a DynamoDB transaction holds at most 100 items")
        with unavailable_on_outage("transaction"):
            try:
                resource_client.transact_write_items(TransactItems=self.items)
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [
                    None if r.get("Code") in (None, "None") else str(r.get("Code"))
                    for r in exc.response.get("CancellationReasons", [])
                ]
                raise TransactionCancelled(reasons) from None


@dataclass(frozen=True)
class TableStore:
    """Base of the repositories: one DynamoDB table (a boto3 ``Table``), built on first use by
    ``table_factory``, never at import."""

    table_factory: Callable[[], Any]

    @property
    def table(self) -> Any:
        return self.table_factory()

    @property
    def table_name(self) -> str:
        return str(self.table.name)
