"""Putting a table back after damage: the items of a table restored by DynamoDB (point-in-time
recovery or an AWS Backup recovery point, always into a new table) become again the items of
the stack's own table, which the functions use by name.

The restore procedure (README, "Restore") freezes writes first, restores into a new table,
then runs ``sealpost-admin restore-table``: every item of the restored table is written into
the stack's table and every item the restored table lacks is deleted from it, so the stack's
table ends up exactly as the restored one. The key schemas must match. The run is audited
before anything is written (fail closed), by table names and counts only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.directory import Operator
from chalicelib.audit.records import AuditEvent, AuditLog
from chalicelib.errors import InvalidRequest

# The stack's tables, by the name the command takes, and the setting that holds each one's name.
TABLES = {
    "accounts": "accounts_table",
    "sessions": "sessions_table",
    "tokens": "tokens_table",
    "threads": "threads_table",
    "gateway": "gateway_table",
}


@dataclass(frozen=True)
class Restored:
    written: int
    deleted: int


@dataclass(frozen=True)
class TableRestore:
    client: Any  # a boto3 DynamoDB client (low-level: items stay in DynamoDB's own typed form)
    audit: AuditLog

    def restore(self, operator: Operator, source: str, target: str) -> Restored:
        """Make ``target`` hold exactly the items of ``source``."""
        if source == target:
            raise InvalidRequest("Restore from the restored table, not from the table itself.")
        keys = self._key_names(source)
        if keys != self._key_names(target):
            raise InvalidRequest(f"The tables {source} and {target} do not have the same key schema.")
        self.audit.record(
            AuditEvent.TABLE_RESTORED,
            actor=operator.actor,
            request=operator.request,
            reason="restore_table",
            detail=operator.detail(table=target, restored_from=source),
        )
        stale = {_key_of(item, keys) for item in self._items(target, keys)}
        written = 0
        for batch in _batches(self._items(source, None)):
            self._write(target, [{"PutRequest": {"Item": item}} for item in batch])
            for item in batch:
                stale.discard(_key_of(item, keys))
            written += len(batch)
        gone = [{name: typed.as_dynamodb() for name, typed in key} for key in stale]
        for batch in _batches(iter(gone)):
            self._write(target, [{"DeleteRequest": {"Key": key}} for key in batch])
        return Restored(written=written, deleted=len(gone))

    def _key_names(self, table: str) -> tuple[str, ...]:
        try:
            schema = self.client.describe_table(TableName=table)["Table"]["KeySchema"]
        except self.client.exceptions.ResourceNotFoundException:
            raise InvalidRequest(f"There is no table {table}.") from None
        return tuple(sorted(str(part["AttributeName"]) for part in schema))

    def _items(self, table: str, keys: tuple[str, ...] | None) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        if keys is not None:  # only the keys: what may have to be deleted
            request["ProjectionExpression"] = ", ".join(f"#k{i}" for i in range(len(keys)))
            request["ExpressionAttributeNames"] = {f"#k{i}": name for i, name in enumerate(keys)}
        for page in self.client.get_paginator("scan").paginate(**request):
            yield from page.get("Items", [])

    def _write(self, table: str, requests: list[dict[str, Any]]) -> None:
        pending = {table: requests}
        while pending:  # DynamoDB may hand back what it did not write (throttling): write it again
            pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


@dataclass(frozen=True)
class _Typed:
    """A typed DynamoDB key value (``{"S": "…"}``), hashable, so that keys can be compared in sets."""

    kind: str
    raw: Any

    def as_dynamodb(self) -> dict[str, Any]:
        return {self.kind: self.raw}


def _key_of(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[tuple[str, _Typed], ...]:
    return tuple((name, _Typed(*next(iter(item[name].items())))) for name in keys)


def _batches(items: Iterator[Any], size: int = 25) -> Iterator[list[Any]]:
    """BatchWriteItem takes at most 25 requests."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
