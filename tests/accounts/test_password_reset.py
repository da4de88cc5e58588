"""Forgot password (R9): same answer for everyone, in the same time and with the same AWS calls
(the request is only queued; tests/accounts/test_reset_mailer.py covers the worker), and a
single-use link valid ten minutes."""

from __future__ import annotations

import gc
import json
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
import time_machine

from chalicelib import aws_clients
from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import PORTAL_URL, WebClient, audit_records, mail_text, sent_mail

NEW = "a completely new passphrase here"


def reset_link() -> str:
    found = re.search(re.escape(PORTAL_URL) + r"(/reset/[A-Za-z0-9_-]{43})\s", mail_text(sent_mail()[-1]))
    assert found, "no reset link"
    return found.group(1)


@pytest.fixture
def forgot(deliver_account_mail: Callable[[], Any]) -> Callable[[WebClient, str], Any]:
    """Ask for a reset link, then let the worker handle the queued request (as SQS and Lambda would)."""

    def ask(web: WebClient, identifier: str) -> Any:
        reply = web.post("/api/password/forgot", json_body={"identifier": identifier})
        deliver_account_mail()
        return reply

    return ask


def test_the_answer_is_the_same_whether_or_not_an_account_exists(web: WebClient, partner: Account, forgot: Any) -> None:
    before = len(sent_mail())
    known = forgot(web, partner.username)
    unknown = forgot(web, "nobody-999999")
    by_mail = forgot(web, "nobody@nowhere.example")
    assert known.status == unknown.status == by_mail.status == 202
    assert known.json == unknown.json == by_mail.json
    assert len(sent_mail()) == before + 1  # only the real account gets a mail


def test_a_reset_by_mail_address_reaches_the_account(web: WebClient, partner: Account, forgot: Any) -> None:
    forgot(web, partner.email.upper())
    mail = sent_mail()[-1]
    assert mail["To"].addresses[0].addr_spec == partner.email
    assert partner.username in mail_text(mail) and "10 minutes" in mail_text(mail)


def test_the_reset_sets_the_password_ends_every_session_and_mails_a_notice(
    web: WebClient, new_browser: Any, partner: Account, forgot: Any
) -> None:
    laptop = new_browser()
    laptop.sign_in(partner.username, PARTNER_PASSWORD)
    forgot(web, partner.username)
    link = reset_link()
    browser = new_browser()
    assert partner.username in browser.get(link).text
    done = browser.submit(link, link, {"password": NEW, "password_confirmation": NEW})
    assert done.status == 303 and "password_reset" in done.header("location")
    assert laptop.get("/api/session").status == 401
    assert "password was changed" in str(sent_mail()[-1]["Subject"])
    assert new_browser().sign_in(partner.username, NEW).status == 200
    assert new_browser().sign_in(partner.username, PARTNER_PASSWORD).status == 401


def test_a_reset_link_works_once(web: WebClient, new_browser: Any, partner: Account, forgot: Any) -> None:
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    assert web.post("/api/password/reset", json_body={"token": token, "password": NEW}).status == 200
    again = new_browser().post("/api/password/reset", json_body={"token": token, "password": NEW + " again"})
    assert again.status == 410


def test_a_reset_link_expires_after_ten_minutes(new_browser: Any, partner: Account, forgot: Any) -> None:
    with time_machine.travel(time.time(), tick=False) as traveller:
        forgot(new_browser(), partner.username)
        link = reset_link()
        traveller.shift(10 * 60 + 1)
        page = new_browser().get(link)
        assert page.status == 410 and "/forgot" in page.text


def test_reset_requests_are_limited_to_one_mail_a_minute(web: WebClient, partner: Account, forgot: Any) -> None:
    before = len(sent_mail())
    for _ in range(5):
        assert forgot(web, partner.username).status == 202
    assert len(sent_mail()) == before + 1


def lock(new_browser: Any, account: Account) -> None:
    for _ in range(3):
        new_browser().post("/api/session", json_body={"username": account.username, "password": "wrong guess here"})


def test_a_reset_does_not_lift_a_lock_by_default(
    web: WebClient, new_browser: Any, partner: Account, forgot: Any
) -> None:
    lock(new_browser, partner)
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    reply = web.post("/api/password/reset", json_body={"token": token, "password": NEW})
    assert reply.status == 200 and reply.json["locked"] is True
    assert new_browser().sign_in(partner.username, NEW).json["error"] == "account_locked"


def test_self_service_unlock_lets_a_reset_lift_the_lock(
    web: WebClient, new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch, stack: Any, forgot: Any
) -> None:
    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    lock(new_browser, partner)
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    reply = web.post("/api/password/reset", json_body={"token": token, "password": NEW})
    assert reply.json["locked"] is False
    assert new_browser().sign_in(partner.username, NEW).status == 200
    unlocked = [r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r["event"] == "account.unlocked"]
    assert unlocked[-1]["reason"] == "self_service_reset"


# --- a lock by wrong second-factor codes: a reset never lifts it (issue 12) -------------------


def wrong_codes(new_browser: Any, account: Account, times: int) -> None:
    """``times`` wrong codes after the right password, each from a browser of its own."""
    import pyotp

    from tests.support import SECOND_FACTORS

    for _ in range(times):
        browser = new_browser()
        first = browser.post("/api/session", json_body={"username": account.username, "password": PARTNER_PASSWORD})
        assert first.json["second_factor_required"] is True, first.text
        browser.csrf_token = first.json["csrf_token"]
        right = int(pyotp.TOTP(SECOND_FACTORS.seeds[account.email]).now())
        answer = browser.post("/api/session/second-factor", json_body={"code": f"{(right + 1) % 1_000_000:06d}"})
        assert answer.status == 401, answer.text


def reset_by_api(web: WebClient, forgot: Any, account: Account) -> Any:
    forgot(web, account.username)
    token = reset_link().rsplit("/", 1)[1]
    return web.post("/api/password/reset", json_body={"token": token, "password": NEW})


def test_a_reset_keeps_a_lock_by_wrong_second_factor_codes_even_with_self_service_unlock(
    web: WebClient, new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch, stack: Any, forgot: Any
) -> None:
    from chalicelib.accounts.passwords import verify_password
    from tests.support import audit_events

    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    wrong_codes(new_browser, partner, 3)
    (locked,) = audit_events(stack, "account.locked")
    assert locked["detail"]["cause"] == "second_factor"
    reply = reset_by_api(web, forgot, partner)
    assert reply.status == 200
    assert (reply.json["locked"], reply.json["locked_by"]) == (True, "second_factor")
    assert "cannot lift that lock" in reply.json["message"] and "associate" in reply.json["message"]
    # The password did change; the lock stays, and nobody unlocked anything.
    stored = stack.services().accounts.require(partner.username)
    assert stored.password_hash and verify_password(stored.password_hash, NEW)
    assert new_browser().sign_in(partner.username, NEW).json["error"] == "account_locked"
    assert audit_events(stack, "account.unlocked") == []
    (completed,) = audit_events(stack, "password.reset_completed")
    assert completed["detail"] == {"lock": "second_factor", "lock_lifted": "False"}


def test_the_reset_page_says_an_associate_must_lift_a_second_factor_lock(
    web: WebClient,
    new_browser: Any,
    partner: Account,
    monkeypatch: pytest.MonkeyPatch,
    forgot: Any,
    associate_web: WebClient,
) -> None:
    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    wrong_codes(new_browser, partner, 3)
    forgot(new_browser(), partner.username)
    link = reset_link()
    browser = new_browser()
    done = browser.submit(link, link, {"password": NEW, "password_confirmation": NEW})
    assert done.status == 303 and done.header("location").endswith("notice=password_reset_factor_locked")
    page = browser.get(done.header("location"))
    assert "wrong codes of your second factor" in page.text and "contact the associate" in page.text
    # The associate's unlock lifts it; the new password then leads to the second factor, not past it.
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 200
    first = new_browser().post("/api/session", json_body={"username": partner.username, "password": NEW})
    assert first.status == 200 and first.json["second_factor_required"] is True


def test_a_lock_that_a_wrong_code_helped_to_reach_stays_the_second_factors(
    web: WebClient, new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch, forgot: Any
) -> None:
    # Two wrong codes, then a wrong password: the last failure is the password's, the lock is not.
    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    wrong_codes(new_browser, partner, 2)
    third = new_browser().post("/api/session", json_body={"username": partner.username, "password": "wrong guess here"})
    assert third.json["error"] == "account_locked"
    reply = reset_by_api(web, forgot, partner)
    assert (reply.json["locked"], reply.json["locked_by"]) == (True, "second_factor")


def test_a_lock_by_wrong_passwords_is_lifted_by_a_reset_with_self_service_unlock(
    web: WebClient, new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch, stack: Any, forgot: Any
) -> None:
    from tests.support import audit_events

    monkeypatch.setenv("SEALPOST_SELF_SERVICE_UNLOCK", "true")
    lock(new_browser, partner)
    assert audit_events(stack, "account.locked")[-1]["detail"]["cause"] == "password"
    reply = reset_by_api(web, forgot, partner)
    assert (reply.json["locked"], reply.json["locked_by"]) == (False, None)
    assert stack.services().accounts.require(partner.username).failure_cause is None
    assert new_browser().sign_in(partner.username, NEW).status == 200


def test_the_forgot_page_gives_the_same_answer(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    known = browser.submit("/forgot", "/forgot", {"identifier": partner.username})
    unknown = new_browser().submit("/forgot", "/forgot", {"identifier": "somebody@else.example"})
    assert known.status == unknown.status == 200
    varying = r"nonce-[^']+|nonce=\"[^\"]+\"|value=\"[^\"]+\""  # per-response nonces and form tokens
    assert re.sub(varying, "", known.text) == re.sub(varying, "", unknown.text)


def test_the_new_password_must_follow_the_rules(web: WebClient, partner: Account, forgot: Any) -> None:
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    short = web.post("/api/password/reset", json_body={"token": token, "password": "short"})
    assert short.status == 400 and short.json["field"] == "password"
    assert web.post("/api/password/reset", json_body={"token": token, "password": NEW}).status == 200


# --- the request only queues: no timing or call-count oracle ----------------------------------


def queued(stack: Any) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    url = stack.env["SEALPOST_ACCOUNT_MAIL_QUEUE"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


def test_the_request_queues_what_was_typed_and_where_it_came_from_and_mails_nothing_yet(
    web: WebClient, partner: Account, stack: Any
) -> None:
    before = len(sent_mail())
    assert web.post("/api/password/forgot", json_body={"identifier": f"  {partner.email}  "}).status == 202
    (message,) = queued(stack)
    assert set(message) == {"kind", "identifier", "request_id", "source_ip", "user_agent", "at"}
    assert (message["kind"], message["identifier"]) == ("password_reset", partner.email)
    assert message["request_id"] and abs(message["at"] - time.time()) < 60
    assert len(sent_mail()) == before
    # The worker audits the request (with this request's id); the API records nothing that could differ.
    assert not [
        r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r["event"] == "password.reset_requested"
    ]


@pytest.mark.parametrize(("identifier", "status"), [("", 400), ("   ", 400), (None, 400), ("x" * 255, 400)])
def test_a_missing_or_overlong_identifier_is_refused_and_nothing_is_queued(
    web: WebClient, stack: Any, identifier: Any, status: int
) -> None:
    reply = web.post("/api/password/forgot", json_body={"identifier": identifier})
    assert reply.status == status and reply.json["field"] == "identifier"
    assert queued(stack) == []


def _record_aws_calls(stack: Any) -> list[tuple[str, str]]:
    """Every AWS operation the app's clients make from now on (botocore's ``before-call`` event)."""
    calls: list[tuple[str, str]] = []
    region = "us-east-1"
    clients = [
        aws_clients.client("sqs", region),
        aws_clients.dynamodb_table(stack.env["SEALPOST_ACCOUNTS_TABLE"], region).meta.client,
        aws_clients.s3(region),
        aws_clients.kms(region),
        aws_clients.sesv2(region),
    ]
    for client in clients:
        client.meta.events.register(
            "before-call", lambda model, **_: calls.append((model.service_model.service_name, model.name))
        )
    return calls


def test_forgot_makes_the_same_aws_calls_whether_or_not_an_account_matches(
    web: WebClient, partner: Account, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_SOURCE_FAILURE_BUDGET", "1000")
    assert web.post("/api/password/forgot", json_body={"identifier": "warm-up"}).status == 202  # clients exist
    calls = _record_aws_calls(stack)
    made = {}
    for identifier in (partner.username, partner.email, "nobody-999999", "nobody@nowhere.example"):
        calls.clear()
        assert web.post("/api/password/forgot", json_body={"identifier": identifier}).status == 202
        made[identifier] = list(calls)
    first = made[partner.username]
    assert ("sqs", "SendMessage") in first and ("sesv2", "SendEmail") not in first
    assert all(found == first for found in made.values()), made
    # Nothing on the request path looks an account up by name or by mail address.
    assert ("dynamodb", "Query") not in first


def test_forgot_answer_time_does_not_tell(web: WebClient, partner: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    # The one timed test (issue 12): a real account's answer took 128 ms against 82 ms for an unknown one.
    monkeypatch.setenv("SEALPOST_SOURCE_FAILURE_BUDGET", "1000")
    for _ in range(4):
        web.post("/api/password/forgot", json_body={"identifier": "warm-up"})
    took: dict[str, list[float]] = {"known": [], "unknown": []}
    gc.disable()  # a collection inside one request is noise, not a signal
    try:
        for n in range(40):
            kind, identifier = ("known", partner.email) if n % 2 == 0 else ("unknown", f"nobody{n}@nowhere.example")
            started = time.perf_counter()
            reply = web.post("/api/password/forgot", json_body={"identifier": identifier})
            took[kind].append(time.perf_counter() - started)
            assert reply.status == 202
    finally:
        gc.enable()
    known, unknown = statistics.median(took["known"]), statistics.median(took["unknown"])
    assert abs(known - unknown) <= max(0.005, 0.15 * max(known, unknown)), (known, unknown)
