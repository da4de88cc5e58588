"""The lockout counter under concurrency, against a real DynamoDB engine (dynalite).

moto's conditional updates are not atomic under threads, so these races must run on a
real engine: 50 concurrent wrong passwords must count exactly 3 failures and lock, whether the
account is named by its user name or by its mail address.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from threading import Barrier
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.passwords import hash_password
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.signin import SignInService
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import AuditLog, RequestInfo
from chalicelib.errors import AccountLocked, InvalidCredentials
from chalicelib.settings import Settings
from devtools.provision import Provisioner
from tests.accounts.conftest import Identifier

THREADS = 50
RIGHT = "the right long passphrase"


@pytest.fixture
def race_setup(dynalite_endpoint: str) -> Iterator[tuple[SignInService, AccountRepository, Any]]:
    stack_name = "race-" + uuid.uuid4().hex[:8]
    config = Config(max_pool_connections=THREADS + 10, retries={"mode": "standard", "max_attempts": 5})

    def dynalite(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=dynalite_endpoint, config=config)

    stack = Provisioner(client_factory=dynalite, dynamodb_compat=True).provision(stack_name, only=["AccountsTable"])
    table_name = stack.physical["AccountsTable"]
    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=dynalite_endpoint, config=config).Table(
        table_name
    )
    with mock_aws():  # the audit bucket and sessions on moto; the contended counter on dynalite
        moto_stack = Provisioner().provision("race-moto")
        env = {**moto_stack.environment, "SEALPOST_ACCOUNTS_TABLE": table_name}
        settings = replace(Settings.from_env(env), accounts_table=table_name)
        s3 = boto3.client("s3", region_name="us-east-1", config=config)
        audit = AuditLog(settings.audit_bucket, settings.kms_key_arn, lambda: s3)
        accounts = AccountRepository(lambda: table)
        sessions_table = boto3.resource("dynamodb", region_name="us-east-1", config=config).Table(
            settings.sessions_table
        )
        sessions = SessionService(settings, lambda: sessions_table, accounts, audit)
        yield SignInService(settings, accounts, sessions, audit), accounts, table


def new_account(accounts: AccountRepository, password_hash: str) -> Account:
    username = f"racer-{uuid.uuid4().hex[:8]}"
    account = Account(
        username=username,
        email=f"{username}@clinic.example",
        role=Role.PARTNER,
        status=Status.ACTIVE,
        password_hash=password_hash,
        created_at=clock.iso(clock.now()),
    )
    table = accounts.table
    table.put_item(Item=account.to_item())  # dynalite has no transactions; the test needs none
    table.put_item(Item={"pk": "EMAIL#" + account.email, "kind": "email", "username": account.username})
    return account


def race(service: SignInService, name: str, password: str) -> Counter[str]:
    start = Barrier(THREADS)

    def attempt(_: int) -> str:
        start.wait()
        try:
            service.sign_in(name, password, RequestInfo("race"))
        except AccountLocked:
            return "locked"
        except InvalidCredentials as error:
            return "warned" if error.warning else "invalid"
        return "signed_in"

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(pool.map(attempt, range(THREADS)))


def test_fifty_concurrent_wrong_passwords_count_exactly_three_and_lock(race_setup: Any, identifier: Identifier) -> None:
    service, accounts, _ = race_setup
    password_hash = hash_password(RIGHT)
    for _ in range(3):
        account = new_account(accounts, password_hash)
        outcomes = race(service, identifier.of(account), "a wrong long passphrase")
        stored = accounts.get(account.username)
        assert stored is not None
        assert stored.failed_attempts == 3
        assert outcomes == Counter({"locked": THREADS - 2, "invalid": 1, "warned": 1})
        with pytest.raises(AccountLocked):
            service.sign_in(identifier.of(account), RIGHT, RequestInfo("after"))


def test_the_counter_alone_survives_thirty_races_of_fifty_threads(race_setup: Any) -> None:
    _, accounts, _ = race_setup
    for _ in range(30):
        account = new_account(accounts, "unused")
        start = Barrier(THREADS)

        def hit(_: int, pk: str = "ACCOUNT#" + account.username, start: Barrier = start) -> int | None:
            start.wait()
            return accounts.count_failure(pk, 3)

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(hit, range(THREADS)))
        assert sorted(r for r in results if r is not None) == [1, 2, 3]
        assert results.count(None) == THREADS - 3
        assert accounts.get(account.username).failed_attempts == 3


def test_the_lock_cause_is_the_second_factors_exactly_when_a_counted_failure_was_a_code(race_setup: Any) -> None:
    from chalicelib.accounts.model import LockCause

    _, accounts, _ = race_setup
    for _ in range(10):
        account = new_account(accounts, "unused")
        start = Barrier(THREADS)

        def hit(n: int, pk: str = "ACCOUNT#" + account.username, start: Barrier = start) -> int | None:
            start.wait()
            cause = LockCause.SECOND_FACTOR if n % 2 else LockCause.PASSWORD
            return accounts.count_failure(pk, 3, cause=cause)

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(hit, range(THREADS)))
        counted_codes = any(r is not None and n % 2 for n, r in enumerate(results))
        stored = accounts.get(account.username)
        assert stored is not None and stored.failed_attempts == 3
        assert stored.lock_cause(3) is (LockCause.SECOND_FACTOR if counted_codes else LockCause.PASSWORD)
