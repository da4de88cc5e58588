"""The failure budget of one source address: guessing at many user names (or links) from one
address is refused with 429 before any password is checked, so those accounts are not locked;
another address is unaffected; the budget holds under concurrency (on dynalite). The tests through
the web run with user names and with mail addresses (``identifier``)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from threading import Barrier
from typing import Any

import boto3
import pytest
import time_machine
from botocore.config import Config
from chalice.local import LambdaEventConverter
from moto import mock_aws

from chalicelib.accounts.model import Account
from chalicelib.accounts.source_budget import BudgetWindow, SourceBudget, network_of
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import AuditLog, RequestInfo
from chalicelib.errors import InvalidCredentials, LinkNotValid, TooManyAttempts
from chalicelib.settings import Settings
from devtools.provision import Provisioner
from tests.accounts.conftest import Identifier
from tests.conftest import AUDIT_RESOURCES, PARTNER_PASSWORD
from tests.support import DEMO_PASSWORD, WebClient, audit_events

WRONG = "this is not the password"
ATTACKER = "198.51.100.23"
NEIGHBOUR = "203.0.113.77"
WINDOW = 15 * 60


@contextmanager
def at_the_start_of_a_window() -> Iterator[Any]:
    """Time moves on from just after a window starts, so that a test never straddles two windows."""
    start = (int(time.time()) // WINDOW + 1) * WINDOW + 1
    with time_machine.travel(start, tick=True) as traveller:
        yield traveller


@pytest.fixture
def from_address(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the next requests come from ``ip`` (API Gateway's ``identity.sourceIp``)."""
    return lambda ip: monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)


# --- the budget alone ------------------------------------------------------------------------


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[SourceBudget]:
    with mock_aws():
        made = Provisioner().provision("budget-test", only=["AccountsTable", *AUDIT_RESOURCES])
        env = {
            "SEALPOST_AUDIT_BUCKET": made.physical["AuditBucket"],
            "SEALPOST_KMS_KEY_ARN": made.attributes[("DataKey", "Arn")],
            "SEALPOST_ACCOUNTS_TABLE": made.physical["AccountsTable"],
        }
        settings = replace(_settings(env), source_failure_budget=4)  # a small budget keeps the tests short
        table = boto3.resource("dynamodb", region_name="us-east-1").Table(env["SEALPOST_ACCOUNTS_TABLE"])
        s3 = boto3.client("s3", region_name="us-east-1")
        audit = AuditLog(env["SEALPOST_AUDIT_BUCKET"], env["SEALPOST_KMS_KEY_ARN"], lambda: s3)
        yield SourceBudget(settings, AccountRepository(lambda: table), audit)


def _settings(env: dict[str, str]) -> Settings:
    required = {
        name: "x"
        for name in (
            "SEALPOST_DEPLOYMENT",
            "SEALPOST_SESSIONS_TABLE",
            "SEALPOST_TOKENS_TABLE",
            "SEALPOST_GATEWAY_TABLE",
            "SEALPOST_THREADS_TABLE",
            "SEALPOST_MESSAGES_BUCKET",
            "SEALPOST_STAGING_BUCKET",
            "SEALPOST_INBOUND_BUCKET",
            "SEALPOST_GATEWAY_ADDRESS",
            "SEALPOST_TLS_CONFIGURATION_SET",
            "SEALPOST_MAIL_FROM",
            "SEALPOST_PORTAL_URL",
            "SEALPOST_INTERNAL_DOMAINS",
        )
    }
    return Settings.from_env({**required, **env})


def test_the_default_budget_is_twenty_failures_per_fifteen_minutes() -> None:
    settings = _settings(
        {"SEALPOST_AUDIT_BUCKET": "a", "SEALPOST_KMS_KEY_ARN": "arn:k", "SEALPOST_ACCOUNTS_TABLE": "t"}
    )
    assert (settings.source_failure_budget, settings.source_failure_window_seconds) == (20, WINDOW)
    changed = _settings(
        {
            "SEALPOST_AUDIT_BUCKET": "a",
            "SEALPOST_KMS_KEY_ARN": "arn:k",
            "SEALPOST_ACCOUNTS_TABLE": "t",
            "SEALPOST_SOURCE_FAILURE_BUDGET": "0",
            "SEALPOST_SOURCE_FAILURE_WINDOW_MINUTES": "60",
        }
    )
    assert (changed.source_failure_budget, changed.source_failure_window_seconds) == (0, 3600)


def fail(budget: SourceBudget, ip: str | None, error: Exception | None = None) -> None:
    with pytest.raises(type(error or InvalidCredentials())), budget.attempt(RequestInfo("r", ip)):
        raise error or InvalidCredentials()


def test_an_address_is_refused_once_its_failures_use_up_the_budget(budget: SourceBudget) -> None:
    with at_the_start_of_a_window():
        for _ in range(4):
            fail(budget, ATTACKER)
        with pytest.raises(TooManyAttempts) as refused, budget.attempt(RequestInfo("r", ATTACKER)):
            pytest.fail("a refused attempt must not be checked")
    assert 0 < refused.value.retry_after_seconds <= WINDOW
    assert "15 minutes" in refused.value.public_message or "14 minutes" in refused.value.public_message


def test_attempts_that_do_not_fail_are_given_back(budget: SourceBudget) -> None:
    with at_the_start_of_a_window():
        for _ in range(10):
            with budget.attempt(RequestInfo("r", ATTACKER)):
                pass  # the right password
        for _ in range(10):
            with pytest.raises(ValueError), budget.attempt(RequestInfo("r", ATTACKER)):
                raise ValueError("malformed, not a failed guess")
        for _ in range(4):
            fail(budget, ATTACKER, LinkNotValid())
        with pytest.raises(TooManyAttempts), budget.attempt(RequestInfo("r", ATTACKER)):
            pass


def test_an_attempt_marked_failed_or_always_counted_stays_counted(budget: SourceBudget) -> None:
    with at_the_start_of_a_window():
        with budget.attempt(RequestInfo("r", ATTACKER)) as attempt:
            attempt.failed()  # a page that shows a bad link rather than raising
        for _ in range(3):
            with budget.attempt(RequestInfo("r", ATTACKER), always_counts=True):
                pass  # a reset request: counted whether it matched or not
        with pytest.raises(TooManyAttempts), budget.attempt(RequestInfo("r", ATTACKER)):
            pass


def test_another_address_and_the_next_window_start_afresh(budget: SourceBudget) -> None:
    with at_the_start_of_a_window() as traveller:
        for _ in range(5):
            with pytest.raises((InvalidCredentials, TooManyAttempts)), budget.attempt(RequestInfo("r", ATTACKER)):
                raise InvalidCredentials()
        fail(budget, NEIGHBOUR)  # counted and answered, not refused
        traveller.shift(timedelta(seconds=WINDOW))
        fail(budget, ATTACKER)


def test_requests_without_a_source_address_or_with_the_budget_off_are_never_refused(budget: SourceBudget) -> None:
    for _ in range(10):
        fail(budget, None)
    off = replace(budget, settings=replace(budget.settings, source_failure_budget=0))
    for _ in range(10):
        fail(off, ATTACKER)


def test_the_first_refusal_is_audited_once_and_the_key_holds_no_address(budget: SourceBudget) -> None:
    from tests.support import audit_records

    with at_the_start_of_a_window():
        for _ in range(4):
            fail(budget, ATTACKER)
        for _ in range(3):
            with pytest.raises(TooManyAttempts), budget.attempt(RequestInfo("r", ATTACKER, "ua")):
                pass
    s3 = boto3.client("s3", region_name="us-east-1")
    throttled = [r for r in audit_records(s3, budget.audit.bucket) if r["event"] == "signin.throttled"]
    assert len(throttled) == 1
    assert throttled[0]["outcome"] == "denied" and throttled[0]["reason"] == "source_failure_budget"
    assert throttled[0]["source_ip"] == ATTACKER  # the audit trail records the address, as every record does
    assert throttled[0]["detail"] == {"failed_attempts": "4", "window_minutes": "15"}
    items = budget.accounts.table.scan()["Items"]
    assert [item["pk"].split("#")[0] for item in items] == ["SOURCE"]
    assert ATTACKER not in repr(items) and "198.51" not in repr(items)
    assert all(int(item["expires_at"]) > time.time() for item in items)


def test_an_ipv6_subscriber_has_one_budget_for_its_whole_64() -> None:
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:198.51.100.23") == network_of(ATTACKER) == ATTACKER
    assert network_of("not an address") == "not an address"
    assert BudgetWindow.now("2001:db8:1:2::1", WINDOW).key == BudgetWindow.now("2001:db8:1:2::2", WINDOW).key


# --- under concurrency, on a real engine ----------------------------------------------------------

THREADS = 50


def test_fifty_concurrent_guesses_from_one_address_get_exactly_the_budget_checked(dynalite_endpoint: str) -> None:
    config = Config(max_pool_connections=THREADS + 10, retries={"mode": "standard", "max_attempts": 5})

    def dynalite(service: Any) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=dynalite_endpoint, config=config)

    name = "budget-race-" + uuid.uuid4().hex[:8]
    made = Provisioner(client_factory=dynalite, dynamodb_compat=True).provision(name, only=["AccountsTable"])
    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=dynalite_endpoint, config=config).Table(
        made.physical["AccountsTable"]
    )
    with mock_aws():  # the audit bucket on moto; the contended counter on dynalite
        audit_made = Provisioner().provision("budget-race-audit", only=list(AUDIT_RESOURCES))
        env = {
            "SEALPOST_AUDIT_BUCKET": audit_made.physical["AuditBucket"],
            "SEALPOST_KMS_KEY_ARN": audit_made.attributes[("DataKey", "Arn")],
            "SEALPOST_ACCOUNTS_TABLE": made.physical["AccountsTable"],
        }
        s3 = boto3.client("s3", region_name="us-east-1", config=config)
        audit = AuditLog(env["SEALPOST_AUDIT_BUCKET"], env["SEALPOST_KMS_KEY_ARN"], lambda: s3)
        budget = SourceBudget(_settings(env), AccountRepository(lambda: table), audit)
        for round_ in range(3):
            ip = f"192.0.2.{round_ + 1}"
            start = Barrier(THREADS)

            def guess(_: int, ip: str = ip, start: Barrier = start) -> str:
                start.wait()
                try:
                    with budget.attempt(RequestInfo("race", ip)):
                        raise InvalidCredentials()
                except TooManyAttempts:
                    return "refused"
                except InvalidCredentials:
                    return "checked"
                return "signed_in"

            with ThreadPoolExecutor(THREADS) as pool:
                outcomes = Counter(pool.map(guess, range(THREADS)))
            assert outcomes == Counter({"checked": 20, "refused": THREADS - 20}), (round_, outcomes)


# --- through the web: sign-in, links, reset ------------------------------------------------


def sign_in(web: WebClient, username: str, password: str = WRONG) -> Any:
    return web.post("/api/session", json_body={"username": username, "password": password})


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch, stack: Any) -> int:
    monkeypatch.setenv("SEALPOST_SOURCE_FAILURE_BUDGET", "6")
    return 6


def test_guessing_at_many_names_from_one_address_is_refused_without_locking_them(
    new_browser: Any,
    partner: Account,
    associate: Account,
    stack: Any,
    from_address: Any,
    small_budget: int,
    identifier: Identifier,
) -> None:
    name_of_partner, name_of_associate = identifier.of(partner), identifier.of(associate)
    attacker, neighbour = new_browser(), new_browser()
    with at_the_start_of_a_window() as traveller:
        from_address(ATTACKER)
        unknown = [identifier.unknown("nobody-1"), identifier.unknown("nobody-2")]
        answers = [sign_in(attacker, name).status for name in [name_of_partner] * 2 + unknown]
        answers += [sign_in(attacker, name_of_associate).status for _ in range(2)]
        assert answers == [401] * small_budget
        # Past the budget: refused before the password is checked, whatever the name.
        for name in (name_of_partner, name_of_associate, identifier.unknown("nobody-3")):
            refused = sign_in(attacker, name)
            assert refused.status == 429, refused.text
            assert (
                refused.json["error"] == "too_many_attempts" and "too many failed attempts" in refused.json["message"]
            )
            assert 0 < int(refused.header("retry-after")) <= WINDOW
        accounts = stack.services().accounts
        assert accounts.get(partner.username).failed_attempts == 2  # warned, never locked
        assert accounts.get(associate.username).failed_attempts == 2
        assert len(audit_events(stack, "signin.throttled")) == 1

        # Another address is unaffected, and the accounts still sign in.
        from_address(NEIGHBOUR)
        assert neighbour.sign_in(name_of_partner, PARTNER_PASSWORD).status == 200

        # Even the right password from the throttled address waits for the window to pass.
        from_address(ATTACKER)
        assert attacker.sign_in(name_of_associate, DEMO_PASSWORD).status == 429
        assert accounts.get(associate.username).failed_attempts == 2
        traveller.shift(timedelta(seconds=WINDOW))
        assert attacker.sign_in(name_of_associate, DEMO_PASSWORD).status == 200
        assert accounts.get(associate.username).failed_attempts == 0


def test_the_sign_in_form_shows_the_refusal_as_a_page_with_retry_after(
    new_browser: Any, partner: Account, from_address: Any, small_budget: int, identifier: Identifier
) -> None:
    browser = new_browser()
    with at_the_start_of_a_window():
        from_address(ATTACKER)
        pages = [
            browser.submit("/signin", "/signin", {"username": identifier.unknown("nobody-x"), "password": WRONG})
            for _ in range(7)
        ]
    assert [page.status for page in pages] == [401] * 6 + [429]
    assert "too many failed attempts" in pages[-1].text and "Please wait" in pages[-1].text
    assert pages[-1].header("retry-after")


def test_bad_links_and_reset_requests_use_up_the_budget_too(
    new_browser: Any, partner: Account, stack: Any, from_address: Any, small_budget: int, identifier: Identifier
) -> None:
    browser = new_browser()
    bad = "A" * 43
    with at_the_start_of_a_window():
        from_address(ATTACKER)
        answers = [
            browser.post("/api/password/reset", json_body={"token": bad, "password": "a long new passphrase"}).status,
            browser.post("/api/register", json_body={"token": bad, "password": "a long new passphrase"}).status,
            browser.post(f"/api/pickup/{bad}/signin", json_body={"password": WRONG}).status,
            browser.get(f"/p/{bad}").status,
            browser.get(f"/reset/{bad}").status,
            browser.post("/api/password/forgot", json_body={"identifier": identifier.of(partner)}).status,
        ]
        assert answers == [410, 410, 410, 410, 410, 202]
        assert sign_in(browser, identifier.of(partner)).status == 429
        assert browser.get(f"/register/{bad}").status == 429
    assert stack.services().accounts.get(partner.username).failed_attempts == 0
