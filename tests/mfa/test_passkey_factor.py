"""Passkeys as the second factor, through the API: added after proof and mailed, used at sign-in with
a single-use challenge, refused answers counted toward the lock, a cloned key refused, a passkey as
the first factor brings recovery codes, and MfaPolicy=required keeps the last factor."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock
from chalicelib.accounts.model import Account
from chalicelib.mfa.passkey_factor import CHALLENGE_SECONDS
from tests.conftest import PARTNER_PASSWORD
from tests.mfa.test_second_factor import pending
from tests.support import DEMO_PASSWORD, PORTAL_URL, WebClient, audit_events, link_in, mail_text, sent_mail
from tests.webauthn_authenticator import SoftwareAuthenticator

API = "/api/session/second-factor"


def authenticator() -> SoftwareAuthenticator:
    return SoftwareAuthenticator(origin=PORTAL_URL, rp_id="portal.test")


def add_passkey(browser: WebClient, key: SoftwareAuthenticator, proof: str | None = PARTNER_PASSWORD) -> Any:
    """A signed-in person adds ``key``: the options, the browser's answer, then the proof with it."""
    options = browser.post(API + "/passkeys/options", json_body={})
    assert options.status == 200, options.text
    body: dict[str, Any] = {"credential": key.create(_text(options.json["options"]))}
    if proof is not None:
        body["proof"] = proof
    return browser.post(API + "/passkeys", json_body=body)


def passkey_sign_in(browser: WebClient, key: SoftwareAuthenticator, **answer: Any) -> Any:
    options = browser.post(API + "/passkey/options", json_body={})
    assert options.status == 200, options.text
    return browser.post(API + "/passkey", json_body={"credential": key.get(_text(options.json["options"]), **answer)})


def _text(options: dict[str, Any]) -> str:
    import json

    return json.dumps(options)


@pytest.fixture
def with_passkey(partner: Account, new_browser: Any) -> SoftwareAuthenticator:
    """``partner`` (TOTP app enrolled) has added a passkey from their security settings."""
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    key = authenticator()
    added = add_passkey(browser, key)
    assert added.status == 201 and added.json["recovery_codes"] is None, added.text  # not the first factor
    return key


def test_adding_a_passkey_needs_the_password_or_a_code_and_is_mailed(
    partner: Account, new_browser: Any, stack: Any
) -> None:
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    no_proof = add_passkey(browser, authenticator(), proof=None)
    assert no_proof.status == 400 and no_proof.json["field"] == "proof"
    wrong = add_passkey(browser, authenticator(), proof="not my password at all")
    assert wrong.status == 401
    assert stack.services().second_factor.factor_set(partner).passkeys == ()
    before = len(sent_mail())
    assert add_passkey(browser, authenticator()).status == 201
    mailed = [m for m in sent_mail()[before:] if m["To"].addresses[0].addr_spec == partner.email]
    assert len(mailed) == 1 and "passkey or security key was added" in mail_text(mailed[0])
    (enrolled,) = [r for r in audit_events(stack, "mfa.enrolled") if r["reason"] == "added"]
    assert enrolled["detail"]["factor"] == "passkey"


def test_a_passkey_signs_in_and_its_challenge_works_once(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any, stack: Any
) -> None:
    browser = pending(new_browser(), partner)
    options = browser.post(API + "/passkey/options", json_body={})
    answer = with_passkey.get(_text(options.json["options"]))
    done = browser.post(API + "/passkey", json_body={"credential": answer})
    assert done.status == 200 and done.json["username"] == partner.username, done.text
    assert browser.get("/api/threads").status == 200
    assert audit_events(stack, "signin.succeeded")[-1]["detail"]["second_factor"] == "passkey"
    stored = stack.services().second_factor.factor_set(partner).passkeys[0]
    assert int(stored["sign_count"]) == with_passkey.sign_count and stored.get("last_used_at")
    # The same answer again, in a new pending session: its challenge was used up.
    again = pending(new_browser(), partner)
    assert again.post(API + "/passkey", json_body={"credential": answer}).status == 409
    again.post(API + "/passkey/options", json_body={})
    replayed = again.post(API + "/passkey", json_body={"credential": answer})  # signed another challenge
    assert replayed.status == 401 and replayed.json["field"] == "credential"


def test_refused_passkeys_count_toward_the_same_lock(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any, stack: Any
) -> None:
    stranger = authenticator()  # a key this account never registered
    answers = [passkey_sign_in(pending(new_browser(), partner), stranger) for _ in range(2)]
    assert [a.status for a in answers] == [401, 401] and "Caps Lock" in answers[1].json["warning"]
    third = passkey_sign_in(pending(new_browser(), partner), with_passkey, origin="https://portal.evil.example")
    assert third.status == 401 and third.json["error"] == "account_locked"
    reasons = [r["reason"] for r in audit_events(stack, "signin.failed")]
    assert reasons == ["passkey_unknown_passkey"] * 2 + ["passkey_assertion_not_verified"]


def test_a_cloned_key_whose_count_does_not_move_on_is_refused(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any
) -> None:
    assert passkey_sign_in(pending(new_browser(), partner), with_passkey).status == 200
    clone = passkey_sign_in(pending(new_browser(), partner), with_passkey, count_up=False)
    assert clone.status == 401 and clone.json["field"] == "credential"


def test_a_challenge_older_than_the_ceremony_is_refused(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = pending(new_browser(), partner)
    options = browser.post(API + "/passkey/options", json_body={})
    answer = with_passkey.get(_text(options.json["options"]))
    later = clock.epoch_seconds() + CHALLENGE_SECONDS + 1
    monkeypatch.setattr(clock, "epoch_seconds", lambda: later)
    monkeypatch.setattr("chalicelib.accounts.sessions.PENDING_SECONDS", CHALLENGE_SECONDS + 60)
    expired = browser.post(API + "/passkey", json_body={"credential": answer})
    assert expired.status == 409 and "expired" in expired.json["message"]


def test_a_malformed_or_missing_answer_is_a_clear_error(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any
) -> None:
    browser = pending(new_browser(), partner)
    missing = browser.post(API + "/passkey", json_body={})
    assert missing.status == 400 and missing.json["field"] == "credential"
    browser.post(API + "/passkey/options", json_body={})
    junk = browser.post(API + "/passkey", json_body={"credential": {"id": 5, "response": "x"}})
    assert junk.status == 401 and junk.json["field"] == "credential"  # counted: it proved nothing


def passkey_only_partner(associate: Account, new_browser: Any, email: str) -> tuple[WebClient, SoftwareAuthenticator]:
    """A partner who registers from an invitation and enrols a passkey, no app: signed in, and the key."""
    admin = new_browser()
    assert admin.sign_in(associate.username, DEMO_PASSWORD).status == 200
    assert admin.post("/api/accounts", json_body={"email": email}).status == 201
    invitation = next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == email)
    token = link_in(invitation, "/register/").rsplit("/", 1)[1]
    browser = new_browser()
    registered = browser.post("/api/register", json_body={"token": token, "password": PARTNER_PASSWORD})
    assert registered.status == 201 and registered.json["enrolment_required"] is True
    browser.csrf_token = registered.json["csrf_token"]
    key = authenticator()
    done = add_passkey(browser, key, proof=None)
    assert done.status == 201 and done.json["enrolled"] is True, done.text
    assert len(done.json["recovery_codes"]) == 10  # the first factor: its recovery codes, shown now
    browser.csrf_token = done.json["csrf_token"]
    return browser, key


def test_a_passkey_as_the_first_factor_brings_recovery_codes(associate: Account, new_browser: Any) -> None:
    browser, key = passkey_only_partner(associate, new_browser, "pia@clinic.example")
    assert browser.get("/api/threads").status == 200
    status = browser.get(API).json
    assert status["passkeys"] == 1 and status["totp"] is False and status["recovery_codes_left"] == 10
    # The next sign-in asks for the factor, and the passkey answers it.
    again = new_browser()
    first = again.post("/api/session", json_body={"identifier": "pia@clinic.example", "password": PARTNER_PASSWORD})
    assert first.json["second_factor_required"] is True
    again.csrf_token = first.json["csrf_token"]
    assert passkey_sign_in(again, key).status == 200


def test_the_last_factor_stays_under_the_required_policy(associate: Account, new_browser: Any, stack: Any) -> None:
    browser, _key = passkey_only_partner(associate, new_browser, "quinn@clinic.example")
    factors = stack.services().second_factor.factor_set
    account = stack.services().accounts.list_by_email("quinn@clinic.example")[0]
    (credential_id,) = [p["credential_id"] for p in factors(account).passkeys]
    token = browser.form_token("/account/security")
    fields = {"csrf_token": token, "credential_id": credential_id, "passkey_proof": PARTNER_PASSWORD}
    refused = browser.post("/account/security/passkeys/remove", form=fields)
    assert refused.status == 403 and "add another passkey or an authenticator app" in refused.text
    assert len(factors(account).passkeys) == 1


def test_a_passkey_beside_the_app_may_be_removed_and_that_is_mailed(
    partner: Account, with_passkey: SoftwareAuthenticator, new_browser: Any, stack: Any
) -> None:
    factors = stack.services().second_factor.factor_set
    (credential_id,) = [p["credential_id"] for p in factors(partner).passkeys]
    browser = new_browser()
    assert browser.sign_in_page(partner.username, PARTNER_PASSWORD).status == 303
    token = browser.form_token("/account/security")
    before = len(sent_mail())
    wrong = browser.post(
        "/account/security/passkeys/remove",
        form={"csrf_token": token, "credential_id": credential_id, "passkey_proof": "not the password"},
    )
    assert wrong.status == 401 and len(factors(partner).passkeys) == 1
    fields = {"csrf_token": token, "credential_id": credential_id, "passkey_proof": PARTNER_PASSWORD}
    removed = browser.post("/account/security/passkeys/remove", form=fields)
    assert removed.status == 303 and removed.header("location") == "/account/security?notice=passkey_removed"
    assert factors(partner).passkeys == ()
    assert any("was removed" in mail_text(m) for m in sent_mail()[before:])
    (record,) = audit_events(stack, "mfa.removed")
    assert record["reason"] == "passkey" and record["detail"]["keys_left"] == "0"
    assert browser.post("/account/security/passkeys/remove", form=fields).status == 404
