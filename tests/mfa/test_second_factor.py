"""The sign-in step after the password: the lock counts wrong codes, a right password does not clear
them, a reset never bypasses the factor, the token rotates, and the policies and an associate's reset."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME
from chalicelib.accounts.tokens import TokenPurpose
from tests.conftest import PARTNER_PASSWORD
from tests.support import (
    DEMO_PASSWORD,
    SECOND_FACTORS,
    WebClient,
    audit_events,
    mail_text,
    printed_passphrase,
    sent_mail,
)

API = "/api/session/second-factor"


def pending(browser: WebClient, account: Account, password: str = PARTNER_PASSWORD) -> WebClient:
    first = browser.post("/api/session", json_body={"username": account.username, "password": password})
    assert first.status == 200 and first.json["second_factor_required"] is True, first.text
    assert set(first.json) == {"second_factor_required", "csrf_token"}  # nobody is signed in yet
    browser.csrf_token = first.json["csrf_token"]
    return browser


def wrong_code(account: Account) -> str:
    return f"{(int(pyotp.TOTP(SECOND_FACTORS.seeds[account.email]).now()) + 1) % 1_000_000:06d}"


def test_wrong_codes_lock_after_three(partner: Account, new_browser: Any, stack: Any) -> None:
    browser = pending(new_browser(), partner)
    answers = [browser.post(API, json_body={"code": wrong_code(partner)}) for _ in range(2)]
    assert [a.status for a in answers] == [401, 401]
    assert answers[0].json.get("warning") is None
    assert "Caps Lock" in answers[1].json["warning"]  # the warning at two, as for passwords
    third = browser.post(API, json_body={"code": wrong_code(partner)})
    assert third.status == 401 and third.json["error"] == "account_locked"
    assert stack.services().accounts.require(partner.username).is_locked(3)
    assert [r["reason"] for r in audit_events(stack, "signin.failed")] == ["wrong_second_factor"] * 3
    assert audit_events(stack, "account.locked")[-1]["account"] == partner.username
    # Locked: the right password and the right code get nowhere now.
    again = new_browser().post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert again.status == 401 and again.json["error"] == "account_locked"


def test_a_right_password_does_not_clear_code_failures(partner: Account, new_browser: Any, stack: Any) -> None:
    first = pending(new_browser(), partner).post(API, json_body={"code": wrong_code(partner)})
    assert first.status == 401 and first.json.get("warning") is None
    second = pending(new_browser(), partner).post(API, json_body={"code": wrong_code(partner)})
    assert second.status == 401 and "Caps Lock" in second.json["warning"]  # the count went on: 2
    third = pending(new_browser(), partner).post(API, json_body={"code": wrong_code(partner)})
    assert third.status == 401 and third.json["error"] == "account_locked"
    assert stack.services().accounts.require(partner.username).failed_attempts == 3


def test_the_right_code_clears_the_failures(partner: Account, new_browser: Any, stack: Any) -> None:
    assert pending(new_browser(), partner).post(API, json_body={"code": wrong_code(partner)}).status == 401
    assert stack.services().accounts.require(partner.username).failed_attempts == 1
    browser = pending(new_browser(), partner)
    assert browser.post(API, json_body={"code": SECOND_FACTORS.code(partner.email)}).status == 200
    assert stack.services().accounts.require(partner.username).failed_attempts == 0


def test_stepping_up_rotates_the_session_token(partner: Account, new_browser: Any) -> None:
    browser = pending(new_browser(), partner)
    waiting, waiting_csrf = browser.cookies[COOKIE_NAME], browser.csrf_token
    assert browser.get("/api/session").status == 401  # a pending session is nobody yet
    done = browser.post(API, json_body={"code": SECOND_FACTORS.code(partner.email)})
    assert done.status == 200
    assert browser.cookies[COOKIE_NAME] != waiting and done.json["csrf_token"] != waiting_csrf
    assert browser.get("/api/session").json["username"] == partner.username
    # The token that waited for the code is gone: it neither signs in nor takes another code.
    old = new_browser()
    old.cookies[COOKIE_NAME], old.csrf_token = waiting, None
    assert old.get("/api/session").status == 401
    old.csrf_token = waiting_csrf
    assert old.post(API, json_body={"code": SECOND_FACTORS.code(partner.email)}).status == 401


def test_a_password_reset_never_bypasses_the_second_factor(partner: Account, new_browser: Any, stack: Any) -> None:
    services = stack.services()
    issued = services.tokens.issue(TokenPurpose.RESET, partner.username, 600)
    services.tokens.save(issued)
    browser = new_browser()
    reset = browser.post(
        "/api/password/reset", json_body={"token": issued.secret, "password": "a brand new passphrase here"}
    )
    assert reset.status == 200, reset.text
    assert COOKIE_NAME not in browser.cookies  # the reset signs nobody in
    after = browser.post(
        "/api/session", json_body={"username": partner.username, "password": "a brand new passphrase here"}
    )
    assert after.status == 200 and after.json == {
        "second_factor_required": True,
        "csrf_token": after.json["csrf_token"],
    }
    assert browser.get("/api/threads").status == 401
    assert services.second_factor.factors.get(partner.email).has_totp  # the reset left the factor alone


def test_an_associate_resets_a_partners_factor_audited_and_mailed(
    partner: Account, associate: Account, new_browser: Any, stack: Any
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    # A partner cannot reset anyone's factor.
    assert signed_in.post(f"/api/accounts/{partner.username}/second-factor/reset").status == 403
    alice = new_browser()
    alice.sign_in_page(associate.username, DEMO_PASSWORD)
    page = alice.submit("/accounts", f"/accounts/{partner.username}/second-factor/reset", {})
    assert page.status == 303 and page.header("location") == "/accounts?notice=second_factor_reset"
    (record,) = audit_events(stack, "mfa.reset")
    assert record["actor"] == associate.username and record["account"] == partner.username
    notice = sent_mail()[-1]
    assert notice["To"].addresses[0].addr_spec == partner.email and "second factor was reset" in str(notice["Subject"])
    assert "set up a new authenticator app" in mail_text(notice)
    assert signed_in.get("/api/session").status == 401  # every session of the address ended
    again = new_browser().post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert again.status == 200 and again.json["enrolment_required"] is True


def test_optional_policy_offers_skip(
    make_partner: Any, new_browser: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_MFA_POLICY", "optional")
    olive = make_partner("olive@clinic.example")  # enrols on registration (offered, taken)
    services = stack.services()
    services.second_factor.factors.remove(olive.email)
    browser = new_browser()
    first = browser.post("/api/session", json_body={"username": olive.username, "password": PARTNER_PASSWORD})
    assert first.json["enrolment_required"] is True
    browser.csrf_token = first.json["csrf_token"]
    page = browser.get("/enrol?next=/home")
    assert page.status == 200 and 'action="/enrol/skip"' in page.text and "Skip for now" in page.text
    skipped = browser.post(API + "/skip", json_body={})
    assert skipped.status == 200 and browser.get("/api/threads").status == 200
    assert audit_events(stack, "signin.succeeded")[-1]["detail"]["second_factor"] == "skipped"
    # Under the required policy there is no skip.
    monkeypatch.setenv("SEALPOST_MFA_POLICY", "required")
    strict = new_browser()
    first = strict.post("/api/session", json_body={"username": olive.username, "password": PARTNER_PASSWORD})
    strict.csrf_token = first.json["csrf_token"]
    assert "Skip for now" not in strict.get("/enrol").text
    assert strict.post(API + "/skip", json_body={}).status == 403


def test_off_policy_asks_nothing(
    partner: Account, new_browser: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_MFA_POLICY", "off")
    browser = new_browser()
    reply = browser.post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert (
        reply.status == 200
        and reply.json["username"] == partner.username
        and "second_factor_required" not in reply.json
    )
    browser.csrf_token = reply.json["csrf_token"]
    assert browser.get("/api/threads").status == 200
    assert audit_events(stack, "signin.succeeded")[-1]["detail"] == {"method": "password", "second_factor": "none"}


def test_an_associate_signing_in_with_a_password_is_under_the_same_policy(associate: Account, new_browser: Any) -> None:
    first = new_browser().post("/api/session", json_body={"username": associate.username, "password": DEMO_PASSWORD})
    assert first.status == 200 and first.json == {"enrolment_required": True, "csrf_token": first.json["csrf_token"]}


def test_the_break_glass_account_is_exempt(stack: Any, admin_cli: Any, new_browser: Any) -> None:
    passphrase = printed_passphrase(admin_cli("break-glass", "create", "glass@plan.example"))
    reply = new_browser().post("/api/session", json_body={"username": "glass@plan.example", "password": passphrase})
    assert reply.status == 200 and reply.json["username"] == "glass@plan.example"
    assert [r["event"] for r in audit_events(stack, "signin.break_glass")] == ["signin.break_glass"]


def test_replacing_the_app_needs_the_password_or_a_code(partner: Account, new_browser: Any, stack: Any) -> None:
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    old_seed = SECOND_FACTORS.seeds[partner.email]
    offer = browser.post(API + "/enrolment", json_body={})
    assert offer.status == 201
    new_code = pyotp.TOTP(offer.json["secret"]).now()
    assert browser.post(API + "/enrolment/confirm", json_body={"code": new_code}).status == 400  # no proof
    refused = browser.post(API + "/enrolment/confirm", json_body={"code": new_code, "proof": "a wrong password x"})
    assert refused.status == 401 and audit_events(stack, "signin.failed")[-1]["reason"] == "wrong_password"
    before = len(sent_mail())
    done = browser.post(API + "/enrolment/confirm", json_body={"code": new_code, "proof": PARTNER_PASSWORD})
    assert done.status == 200 and len(done.json["recovery_codes"]) == 10
    assert audit_events(stack, "mfa.enrolled")[-1]["reason"] == "replaced"
    (mailed,) = [m for m in sent_mail()[before:] if m["To"].addresses[0].addr_spec == partner.email]
    assert "authenticator app was replaced" in mail_text(mailed)  # if it was not them, they know at once
    stored = stack.services().second_factor.factors.get(partner.email)
    assert (
        stack.services().second_factor.sealer.open(partner.email, stored.totp_seed) == offer.json["secret"] != old_seed
    )


def test_new_recovery_codes_are_mailed_to_the_holder(partner: Account, new_browser: Any) -> None:
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    before = len(sent_mail())
    renewed = browser.post(API + "/recovery-codes", json_body={"proof": PARTNER_PASSWORD})
    assert renewed.status == 201 and len(renewed.json["recovery_codes"]) == 10
    (mailed,) = [m for m in sent_mail()[before:] if m["To"].addresses[0].addr_spec == partner.email]
    text = mail_text(mailed)
    assert "New recovery codes were made" in text and renewed.json["recovery_codes"][0] not in text
