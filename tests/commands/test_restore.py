"""`sealpost-admin restore-table`: the stack's table made exactly what a restored copy holds, audited
before it writes, refused unless confirmed, for tables of the same key schema only."""

from __future__ import annotations

from typing import Any

from tests.support import audit_events


def copy_of(stack: Any, logical: str, name: str, items: list[dict[str, Any]]) -> None:
    """A table as DynamoDB restores it: a new name, the same key schema, the items given."""
    ddb = stack.client("dynamodb")
    live = ddb.describe_table(TableName=stack.env[f"SEALPOST_{logical.upper()}_TABLE"])["Table"]
    keys = {part["AttributeName"] for part in live["KeySchema"]}
    ddb.create_table(
        TableName=name,
        KeySchema=live["KeySchema"],
        AttributeDefinitions=[a for a in live["AttributeDefinitions"] if a["AttributeName"] in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        ddb.put_item(TableName=name, Item=item)


def items_of(stack: Any, table: str) -> list[dict[str, Any]]:
    return sorted(stack.client("dynamodb").scan(TableName=table)["Items"], key=repr)


def thread_item(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"THREAD#{n:032x}"}, "sk": {"S": "META"}, "n": {"N": str(n)}}


def test_the_table_ends_up_holding_exactly_the_restored_items(stack: Any, admin_cli: Any) -> None:
    threads = stack.env["SEALPOST_THREADS_TABLE"]
    ddb = stack.client("dynamodb")
    for n in (1, 2, 99):  # 99 came after the restore point: it goes
        ddb.put_item(TableName=threads, Item={**thread_item(n), "damaged": {"BOOL": True}})
    restored = [thread_item(n) for n in range(1, 31)]  # more than one batch of 25
    copy_of(stack, "threads", "sealpost-test-threads-restored", restored)
    run = admin_cli("restore-table", "threads", "--from", "sealpost-test-threads-restored", "--yes")
    assert run.code == 0, run.err
    assert "30 items" in run.out and "1 items it had beyond them were deleted" in run.out
    assert items_of(stack, threads) == sorted(restored, key=repr)
    (record,) = audit_events(stack, "admin.table_restored")
    assert record["actor"] == "sealpost-admin" and record["detail"]["table"] == threads
    assert record["detail"]["restored_from"] == "sealpost-test-threads-restored"


def test_nothing_is_written_without_yes(stack: Any, admin_cli: Any) -> None:
    copy_of(stack, "threads", "restored-copy", [thread_item(1)])
    run = admin_cli("restore-table", "threads", "--from", "restored-copy")
    assert run.code == 1 and "--yes" in run.err
    assert items_of(stack, stack.env["SEALPOST_THREADS_TABLE"]) == []
    assert audit_events(stack, "admin.table_restored") == []


def test_tables_of_another_key_schema_or_no_table_are_refused(stack: Any, admin_cli: Any) -> None:
    copy_of(stack, "accounts", "accounts-shaped", [])  # key pk only; the threads table has pk and sk
    refused = admin_cli("restore-table", "threads", "--from", "accounts-shaped", "--yes")
    assert refused.code == 1 and "same key schema" in refused.err
    missing = admin_cli("restore-table", "threads", "--from", "no-such-table", "--yes")
    assert missing.code == 1 and "There is no table no-such-table" in missing.err
    itself = admin_cli("restore-table", "threads", "--from", stack.env["SEALPOST_THREADS_TABLE"], "--yes")
    assert itself.code == 1 and "not from the table itself" in itself.err
    assert audit_events(stack, "admin.table_restored") == []


def test_a_failed_audit_write_restores_nothing(stack: Any, admin_cli: Any) -> None:
    copy_of(stack, "threads", "restored-copy", [thread_item(1)])
    run = admin_cli(
        "restore-table", "threads", "--from", "restored-copy", "--yes", changed={"SEALPOST_AUDIT_BUCKET": "nope"}
    )
    assert run.code == 2
    assert items_of(stack, stack.env["SEALPOST_THREADS_TABLE"]) == []
