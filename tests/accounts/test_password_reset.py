"""Forgot password (R9): same answer for everyone, a single-use link valid ten minutes."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import time_machine

from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import PORTAL_URL, WebClient, audit_records, mail_text, sent_mail

NEW = "a completely new passphrase here"


def reset_link() -> str:
    found = re.search(re.escape(PORTAL_URL) + r"(/reset/[A-Za-z0-9_-]{43})\s", mail_text(sent_mail()[-1]))
    assert found, "no reset link"
    return found.group(1)


def forgot(web: WebClient, identifier: str) -> Any:
    return web.post("/api/password/forgot", json_body={"identifier": identifier})


def test_the_answer_is_the_same_whether_or_not_an_account_exists(web: WebClient, partner: Account) -> None:
    before = len(sent_mail())
    known = forgot(web, partner.username)
    unknown = forgot(web, "nobody-999999")
    by_mail = forgot(web, "nobody@nowhere.example")
    assert known.status == unknown.status == by_mail.status == 202
    assert known.json == unknown.json == by_mail.json
    assert len(sent_mail()) == before + 1  # only the real account gets a mail


def test_a_reset_by_mail_address_reaches_the_account(web: WebClient, partner: Account) -> None:
    forgot(web, partner.email.upper())
    mail = sent_mail()[-1]
    assert mail["To"].addresses[0].addr_spec == partner.email
    assert partner.username in mail_text(mail) and "10 minutes" in mail_text(mail)


def test_the_reset_sets_the_password_ends_every_session_and_mails_a_notice(
    web: WebClient, new_browser: Any, partner: Account
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


def test_a_reset_link_works_once(web: WebClient, new_browser: Any, partner: Account) -> None:
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    assert web.post("/api/password/reset", json_body={"token": token, "password": NEW}).status == 200
    again = new_browser().post("/api/password/reset", json_body={"token": token, "password": NEW + " again"})
    assert again.status == 410


def test_a_reset_link_expires_after_ten_minutes(new_browser: Any, partner: Account) -> None:
    with time_machine.travel(time.time(), tick=False) as traveller:
        forgot(new_browser(), partner.username)
        link = reset_link()
        traveller.shift(10 * 60 + 1)
        page = new_browser().get(link)
        assert page.status == 410 and "/forgot" in page.text


def test_reset_requests_are_limited_to_one_mail_a_minute(web: WebClient, partner: Account) -> None:
    before = len(sent_mail())
    for _ in range(5):
        assert forgot(web, partner.username).status == 202
    assert len(sent_mail()) == before + 1


def lock(new_browser: Any, account: Account) -> None:
    for _ in range(3):
        new_browser().post("/api/session", json_body={"username": account.username, "password": "wrong guess here"})


def test_a_reset_does_not_lift_a_lock_by_default(web: WebClient, new_browser: Any, partner: Account) -> None:
    lock(new_browser, partner)
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    reply = web.post("/api/password/reset", json_body={"token": token, "password": NEW})
    assert reply.status == 200 and reply.json["locked"] is True
    assert new_browser().sign_in(partner.username, NEW).json["error"] == "account_locked"


def test_self_service_unlock_lets_a_reset_lift_the_lock(
    web: WebClient, new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch, stack: Any
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


def test_the_forgot_page_gives_the_same_answer(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    known = browser.submit("/forgot", "/forgot", {"identifier": partner.username})
    unknown = new_browser().submit("/forgot", "/forgot", {"identifier": "somebody@else.example"})
    assert known.status == unknown.status == 200
    varying = r"nonce-[^']+|nonce=\"[^\"]+\"|value=\"[^\"]+\""  # per-response nonces and form tokens
    assert re.sub(varying, "", known.text) == re.sub(varying, "", unknown.text)


def test_the_new_password_must_follow_the_rules(web: WebClient, partner: Account) -> None:
    forgot(web, partner.username)
    token = reset_link().rsplit("/", 1)[1]
    short = web.post("/api/password/reset", json_body={"token": token, "password": "short"})
    assert short.status == 400 and short.json["field"] == "password"
    assert web.post("/api/password/reset", json_body={"token": token, "password": NEW}).status == 200
