"""Choosing a password from an invitation link, and changing it."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME
from tests.conftest import PARTNER_PASSWORD
from tests.support import DEMO_PASSWORD, WebClient, link_in, sent_mail

NEW_PASSWORD = "a different long passphrase"


def invite(associate_web: WebClient, email: str = "reg@clinic.example") -> tuple[str, str]:
    created = associate_web.post("/api/accounts", json_body={"email": email})
    return created.json["account"]["username"], link_in(sent_mail()[-1], "/register/")


def test_the_invitation_page_shows_the_user_name_and_registers(associate_web: WebClient, new_browser: Any) -> None:
    username, link = invite(associate_web)
    browser = new_browser()
    page = browser.get(link)
    assert page.status == 200 and username in page.text
    done = browser.submit(link, link, {"password": PARTNER_PASSWORD, "password_confirmation": PARTNER_PASSWORD})
    assert done.status == 303 and done.header("location") == "/enrol?next=/home%3Fnotice%3Dregistered"
    done = browser.through_second_factor(done, username)  # MfaPolicy=required: the app is set up first
    assert done.status == 303 and done.header("location") == "/home?notice=registered"
    assert browser.get("/api/session").json["username"] == username


def test_opening_the_link_does_not_use_it_up(associate_web: WebClient, new_browser: Any) -> None:
    # Mail scanners fetch links; only the form post consumes the token.
    _, link = invite(associate_web)
    assert new_browser().get(link).status == 200
    assert new_browser().get(link).status == 200


def test_an_invitation_link_works_once(associate_web: WebClient, new_browser: Any) -> None:
    _, link = invite(associate_web)
    token = link.rsplit("/", 1)[1]
    assert new_browser().post("/api/register", json_body={"token": token, "password": PARTNER_PASSWORD}).status == 201
    again = new_browser().post("/api/register", json_body={"token": token, "password": NEW_PASSWORD})
    assert again.status == 410
    assert new_browser().get(link).status == 410


def test_an_expired_invitation_is_refused_with_a_clear_page(associate: Account, new_browser: Any) -> None:
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        admin = new_browser()
        admin.sign_in(associate.username, DEMO_PASSWORD)
        _, link = invite(admin)
        traveller.shift(73 * 3600)
        page = new_browser().get(link)
        assert page.status == 410
        assert "no longer valid" in page.text


def test_registration_applies_the_password_rules(associate_web: WebClient, new_browser: Any) -> None:
    _, link = invite(associate_web)
    browser = new_browser()
    short = browser.submit(link, link, {"password": "too short", "password_confirmation": "too short"})
    assert short.status == 400 and "at least 15 characters" in short.text
    assert 'aria-invalid="true"' in short.text
    mismatch = browser.submit(link, link, {"password": PARTNER_PASSWORD, "password_confirmation": NEW_PASSWORD})
    assert mismatch.status == 400 and "do not match" in mismatch.text
    # The link survives a refused attempt.
    assert browser.get(link).status == 200


def test_registration_refuses_the_plans_name(
    associate_web: WebClient, new_browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_PLAN_NAME", "Riverside Health Plan")
    _, link = invite(associate_web)
    browser = new_browser()
    named = "Riverside-Health-Plan is my plan"
    refused = browser.submit(link, link, {"password": named, "password_confirmation": named})
    assert refused.status == 400 and "name of the plan" in refused.text
    assert browser.get(link).status == 200


def test_changing_the_password_needs_the_current_one(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    wrong = browser.post(
        "/api/password", json_body={"current_password": "not my password!", "new_password": NEW_PASSWORD}
    )
    assert wrong.status == 401
    assert wrong.json["field"] == "current_password"
    assert (
        browser.post(
            "/api/password", json_body={"current_password": PARTNER_PASSWORD, "new_password": NEW_PASSWORD}
        ).status
        == 200
    )
    assert new_browser().sign_in(partner.username, NEW_PASSWORD).status == 200
    assert new_browser().sign_in(partner.username, PARTNER_PASSWORD).status == 401


def test_changing_the_password_ends_other_sessions_keeps_this_one_and_mails_a_notice(
    new_browser: Any, partner: Account
) -> None:
    laptop = new_browser()
    laptop.sign_in(partner.username, PARTNER_PASSWORD)
    phone = new_browser()
    phone.sign_in(partner.username, PARTNER_PASSWORD)
    old_cookie = phone.cookies[COOKIE_NAME]
    reply = phone.post("/api/password", json_body={"current_password": PARTNER_PASSWORD, "new_password": NEW_PASSWORD})
    phone.csrf_token = reply.json["csrf_token"]
    assert phone.cookies[COOKIE_NAME] != old_cookie
    assert phone.get("/api/session").status == 200
    assert laptop.get("/api/session").status == 401
    notice = sent_mail()[-1]
    assert "password was changed" in str(notice["Subject"])
    assert NEW_PASSWORD not in notice.as_string()


def test_wrong_current_passwords_count_toward_the_lock(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    replies = [
        browser.post("/api/password", json_body={"current_password": "guess number one", "new_password": NEW_PASSWORD})
        for _ in range(3)
    ]
    assert replies[1].json["warning"]
    assert replies[2].json["error"] == "account_locked"
    assert browser.get("/api/session").status == 401
