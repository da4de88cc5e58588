"""Accounts are initiated by associates only (R1); associates unlock and terminate them (R3)."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient, link_in, mail_text, sent_mail


def test_an_associate_creates_a_partner_account_and_the_partner_is_invited(associate_web: WebClient) -> None:
    reply = associate_web.post("/api/accounts", json_body={"email": "Dana@Clinic.example", "display_name": "Dana"})
    assert reply.status == 201
    account = reply.json["account"]
    assert account["email"] == "dana@clinic.example"
    assert account["status"] == "invited" and account["role"] == "partner"
    assert reply.json["invitation_sent"] is True
    invitation = sent_mail()[-1]
    assert invitation["To"].addresses[0].addr_spec == "dana@clinic.example"
    assert account["username"] in mail_text(invitation)
    assert link_in(invitation, "/register/")


def test_an_outsider_cannot_create_an_account(web: WebClient, stack: Any) -> None:
    reply = web.post("/api/accounts", json_body={"email": "eve@evil.example"})
    assert reply.status == 401
    assert reply.json["error"] == "authentication_required"


def test_a_partner_cannot_create_an_account(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    reply = browser.post("/api/accounts", json_body={"email": "friend@elsewhere.example"})
    assert reply.status == 403
    assert reply.json["error"] == "access_denied"


def test_there_is_no_self_registration_without_an_invitation(web: WebClient, stack: Any) -> None:
    reply = web.post("/api/register", json_body={"token": "A" * 43, "password": "a long passphrase here ok"})
    assert reply.status == 410
    assert reply.json["error"] == "link_not_valid"


def test_an_address_can_have_only_one_account_in_recipient_scope(associate_web: WebClient) -> None:
    assert associate_web.post("/api/accounts", json_body={"email": "dup@clinic.example"}).status == 201
    again = associate_web.post("/api/accounts", json_body={"email": "DUP@clinic.example"})
    assert again.status == 409
    assert again.json["error"] == "account_exists"


def test_internal_addresses_are_not_partner_accounts(associate_web: WebClient) -> None:
    reply = associate_web.post("/api/accounts", json_body={"email": "colleague@plan.example"})
    assert reply.status == 400
    assert reply.json["field"] == "email"


def test_an_associate_unlocks_a_locked_account(associate_web: WebClient, new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    for _ in range(3):
        browser.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    listed = {a["username"]: a for a in associate_web.get("/api/accounts").json["accounts"]}
    assert listed[partner.username]["locked"] is True
    reply = associate_web.post(f"/api/accounts/{partner.username}/unlock")
    assert reply.status == 200
    assert reply.json["account"]["locked"] is False
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200


def test_a_lock_ends_the_accounts_sessions_for_good_so_an_unlock_does_not_revive_them(
    associate_web: WebClient, new_browser: Any, partner: Account
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert signed_in.get("/api/threads").status == 200
    guesser = new_browser()
    for _ in range(3):
        guesser.post("/api/session", json_body={"username": partner.username, "password": "wrong guess again"})
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 200
    assert signed_in.get("/api/threads").status == 401
    again = new_browser()
    assert again.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert again.get("/api/threads").status == 200


def test_unlocking_an_account_that_is_not_locked_is_a_conflict(associate_web: WebClient, partner: Account) -> None:
    reply = associate_web.post(f"/api/accounts/{partner.username}/unlock")
    assert reply.status == 409


def test_a_partner_cannot_unlock_or_terminate(new_browser: Any, make_partner: Any) -> None:
    one = make_partner("one@clinic.example")
    other = make_partner("two@clinic.example")
    browser = new_browser()
    browser.sign_in(one.username, PARTNER_PASSWORD)
    assert browser.post(f"/api/accounts/{other.username}/unlock").status == 403
    assert browser.post(f"/api/accounts/{other.username}/terminate").status == 403


def test_termination_is_final(associate_web: WebClient, partner: Account) -> None:
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").json["account"]["status"] == "terminated"
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 409
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 409


def test_actions_on_unknown_accounts_are_not_found(associate_web: WebClient) -> None:
    assert associate_web.post("/api/accounts/nobody-000000/terminate").status == 404
    assert associate_web.post("/api/accounts/alice@plan.example/terminate").status == 404  # associates are not partners


def test_an_invitation_can_be_resent_and_only_the_newest_link_matters(
    associate_web: WebClient, new_browser: Any
) -> None:
    created = associate_web.post("/api/accounts", json_body={"email": "late@clinic.example"}).json["account"]
    first = link_in(sent_mail()[-1], "/register/")
    assert associate_web.post(f"/api/accounts/{created['username']}/invitation").status == 200
    second = link_in(sent_mail()[-1], "/register/")
    assert first != second
    browser = new_browser()
    token = second.rsplit("/", 1)[1]
    assert browser.post("/api/register", json_body={"token": token, "password": PARTNER_PASSWORD}).status == 201
    # Once registered, the older link is no longer good either.
    old = new_browser().post(
        "/api/register", json_body={"token": first.rsplit("/", 1)[1], "password": PARTNER_PASSWORD}
    )
    assert old.status == 410


def test_the_associate_page_creates_unlocks_and_terminates(associate: Account, new_browser: Any) -> None:
    from tests.support import DEMO_PASSWORD

    browser = new_browser()
    page = browser.submit("/signin", "/signin", {"username": associate.username, "password": DEMO_PASSWORD})
    assert page.status == 303
    created = browser.submit("/accounts", "/accounts", {"email": "page@clinic.example", "display_name": "Page"})
    assert created.status == 303 and "account_created" in created.header("location")
    home = browser.get("/accounts?notice=account_created")
    assert "page@clinic.example" in home.text and "The account has been created" in home.text
    username = next(a for a in associate_web_accounts(browser) if a["email"] == "page@clinic.example")["username"]
    terminated = browser.submit("/accounts", f"/accounts/{username}/terminate", {})
    assert terminated.status == 303
    assert "Terminated" in browser.get("/accounts").text


def associate_web_accounts(browser: WebClient) -> list[dict[str, Any]]:
    return list(browser.get("/api/accounts").json["accounts"])
