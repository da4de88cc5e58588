"""The associates directory (chalicelib/web/associate_accounts.py): only an active administrator sees
``/associates`` and ``/api/associates``; everyone else gets 403 there (the error page, or a JSON
error), audited. An administrator lists, disables (every session of the associate ends at once),
enables again, ends sessions and unlocks; disabling oneself or the last administrator is a 409."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.accounts.directory import Operator
from chalicelib.accounts.model import Account, Status
from devtools.seed import seed_associate
from tests.conftest import PARTNER_PASSWORD, Stack
from tests.support import DEMO_PASSWORD, WebClient, audit_events, printed_passphrase, sent_mail

ADMIN = "bo@plan.example"


def make_administrator(stack: Stack, email: str) -> Account:
    services = stack.services()
    seed_associate(services, email, DEMO_PASSWORD, "Bo Administrator")
    return services.directory.set_administrator(Operator.named("pytest"), email, True)


@pytest.fixture
def administrator(stack: Stack) -> Account:
    return make_administrator(stack, ADMIN)


@pytest.fixture
def admin_web(new_browser: Any, administrator: Account) -> WebClient:
    browser: WebClient = new_browser()
    assert browser.sign_in(administrator.username, DEMO_PASSWORD).status == 200
    return browser


def signed_in(browser: WebClient, username: str) -> WebClient:
    assert browser.sign_in(username, DEMO_PASSWORD).status == 200
    return browser


def denials(stack: Stack) -> list[tuple[str, str, str]]:
    return [
        (r["actor"], r["reason"], r["detail"]["action"])
        for r in audit_events(stack, "access.denied")
        if r["reason"] == "administrator_only"
    ]


# --- who may ----------------------------------------------------------------------------------


def test_a_plain_associate_gets_403_on_the_page_and_the_api_audited(
    stack: Stack, associate_web: WebClient, administrator: Account
) -> None:
    page = associate_web.get("/associates")
    assert page.status == 403 and "text/html" in page.header("content-type")
    assert "Only administrators" in page.text and ADMIN not in page.text
    api = associate_web.get("/api/associates")
    assert api.status == 403 and api.json["error"] == "access_denied"
    assert "Only administrators" in api.json["message"]
    change = associate_web.post(f"/api/associates/{ADMIN}/disable", json_body={})
    assert change.status == 403 and change.json["error"] == "access_denied"
    assert stack.services().accounts.require(ADMIN).status is Status.ACTIVE
    assert denials(stack) == [
        ("alice@plan.example", "administrator_only", "list_associates"),
        ("alice@plan.example", "administrator_only", "list_associates"),
        ("alice@plan.example", "administrator_only", "disable_associate"),
    ]


def test_a_partner_gets_403_on_the_page_and_the_api_audited(
    stack: Stack, new_browser: Any, partner: Account, administrator: Account
) -> None:
    browser = new_browser()
    assert browser.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert browser.get("/associates").status == 403
    assert browser.get("/api/associates").json["error"] == "access_denied"
    assert browser.post(f"/api/associates/{ADMIN}/end-sessions", json_body={}).status == 403
    assert [actor for actor, _reason, _action in denials(stack)] == [partner.username] * 3
    assert audit_events(stack, "session.revoked_all") == []


def test_the_associates_link_is_shown_to_administrators_only(associate_web: WebClient, admin_web: WebClient) -> None:
    assert 'href="/associates"' in admin_web.get("/home").text
    assert 'href="/associates"' not in associate_web.get("/home").text


def test_an_administrator_whose_flag_is_revoked_is_denied_at_the_next_request(
    stack: Stack, admin_web: WebClient, associate: Account
) -> None:
    assert admin_web.get("/api/associates").status == 200
    make_administrator(stack, "cy@plan.example")  # another one, so that the last is not revoked
    stack.services().directory.set_administrator(Operator.named("pytest"), ADMIN, False)
    assert admin_web.get("/api/associates").status == 403
    assert denials(stack) == [(ADMIN, "administrator_only", "list_associates")]


# --- what an administrator does ------------------------------------------------------------------


def test_the_list_shows_each_associate_with_role_state_and_sign_in(
    admin_web: WebClient, associate: Account, partner: Account
) -> None:
    listed = {a["username"]: a for a in admin_web.get("/api/associates").json["associates"]}
    assert set(listed) == {"alice@plan.example", ADMIN}  # no partner here
    alice = listed["alice@plan.example"]
    assert (alice["administrator"], alice["status"], alice["locked"]) == (False, "active", False)
    assert (alice["password_signin"], alice["linked_provider"]) == (True, None)
    assert alice["last_signin_at"]  # the fixture's partner was made by alice, who signed in
    assert "password_hash" not in alice
    assert listed[ADMIN]["administrator"] is True
    page = admin_web.get("/associates")
    assert page.status == 200 and "alice@plan.example" in page.text and "Associate accounts" in page.text
    assert f'action="/associates/{ADMIN}/disable"' not in page.text  # not oneself
    assert 'action="/associates/alice@plan.example/disable"' in page.text


def test_disabling_ends_every_session_at_once_and_enabling_invites_again(
    stack: Stack, admin_web: WebClient, associate_web: WebClient, new_browser: Any
) -> None:
    assert associate_web.get("/api/session").status == 200
    page = admin_web.submit("/associates", "/associates/alice@plan.example/disable", {})
    assert page.status == 303 and page.header("location") == "/associates?notice=associate_disabled"
    assert associate_web.get("/api/session").status == 401  # the session stopped working at once
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).status == 403
    assert stack.services().accounts.require("alice@plan.example").status is Status.TERMINATED
    (terminated,) = audit_events(stack, "account.terminated")
    assert (terminated["actor"], terminated["actor_role"], terminated["reason"]) == (
        ADMIN,
        "associate",
        "administrator_request",
    )
    again = admin_web.post("/api/associates/alice@plan.example/disable", json_body={})
    assert again.status == 409 and "already disabled" in again.json["message"]

    mails = len(sent_mail())
    enabled = admin_web.post("/api/associates/alice@plan.example/enable", json_body={})
    assert enabled.status == 200 and enabled.json["invitation_sent"] is True
    assert enabled.json["account"]["status"] == "invited"
    assert len(sent_mail()) == mails + 1 and sent_mail()[-1]["To"].addresses[0].addr_spec == "alice@plan.example"
    (reenabled,) = audit_events(stack, "account.reenabled")
    assert (reenabled["actor"], reenabled["reason"]) == (ADMIN, "administrator_request")
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).status == 401  # the old password is gone


def test_an_administrator_cannot_disable_themselves(stack: Stack, admin_web: WebClient) -> None:
    reply = admin_web.post(f"/api/associates/{ADMIN}/disable", json_body={})
    assert reply.status == 409 and "your own account" in reply.json["message"]
    page = admin_web.submit("/associates", f"/associates/{ADMIN}/disable", {})
    assert page.status == 409 and "your own account" in page.text
    assert stack.services().accounts.require(ADMIN).status is Status.ACTIVE
    assert audit_events(stack, "account.terminated") == []


def test_the_last_active_administrator_cannot_be_disabled(
    stack: Stack, admin_web: WebClient, admin_cli: Any, new_browser: Any
) -> None:
    # The break-glass account is an administrator too, but sealed: it does not count as the last one.
    glass = admin_cli("break-glass", "create", "glass@plan.example")
    assert glass.code == 0, glass.err
    passphrase = printed_passphrase(glass)
    emergency = new_browser()
    assert emergency.sign_in("glass@plan.example", passphrase).status == 200
    refused = emergency.post(f"/api/associates/{ADMIN}/disable", json_body={})
    assert refused.status == 409 and "last active administrator" in refused.json["message"]
    assert stack.services().accounts.require(ADMIN).status is Status.ACTIVE
    make_administrator(stack, "cy@plan.example")
    assert emergency.post(f"/api/associates/{ADMIN}/disable", json_body={}).status == 200
    assert admin_web.get("/api/associates").status == 401  # its own sessions ended with it


def test_end_all_sessions_and_unlock(
    stack: Stack, admin_web: WebClient, associate_web: WebClient, new_browser: Any
) -> None:
    ended = admin_web.submit("/associates", "/associates/alice@plan.example/end-sessions", {})
    assert ended.status == 303 and ended.header("location") == "/associates?notice=associate_sessions_ended"
    assert associate_web.get("/api/session").status == 401
    assert [r["reason"] for r in audit_events(stack, "session.revoked_all")] == ["administrator_request"]

    not_locked = admin_web.post("/api/associates/alice@plan.example/unlock", json_body={})
    assert not_locked.status == 409 and "not locked" in not_locked.json["message"]
    for _ in range(3):
        new_browser().sign_in("alice@plan.example", "a wrong guess for alice")
    assert 'action="/associates/alice@plan.example/unlock"' in admin_web.get("/associates").text
    unlocked = admin_web.submit("/associates", "/associates/alice@plan.example/unlock", {})
    assert unlocked.status == 303 and unlocked.header("location") == "/associates?notice=associate_unlocked"
    (record,) = audit_events(stack, "account.unlocked")
    assert (record["actor"], record["reason"]) == (ADMIN, "administrator_request")
    assert signed_in(new_browser(), "alice@plan.example").get("/api/session").status == 200


def test_partner_accounts_and_unknown_names_are_not_found_here(admin_web: WebClient, partner: Account) -> None:
    for name in (partner.username, "nobody@plan.example"):
        reply = admin_web.post(f"/api/associates/{name}/disable", json_body={})
        assert reply.status == 404 and "no associate account" in reply.json["message"]
