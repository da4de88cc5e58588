"""The callback of chalicelib/identity/federation.py against the real provider: who gets in, who is
created, linked, made administrator or disabled, and every refusal audited with its reason."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.identity.links import link_key
from tests.conftest import Stack
from tests.identity.conftest import callback, signed_in_as
from tests.identity_provider import ASSOCIATE_GROUP, MFA, PASSWORD, TestIdp, associates_idp_accounts, user
from tests.support import DEMO_PASSWORD, audit_events


def refusal(stack: Stack) -> dict[str, Any]:
    return audit_events(stack, "signin.failed")[-1]


def test_first_sign_in_creates_the_associate_audited(stack: Stack, web: Any, sign_in_with: Any, idp: TestIdp) -> None:
    reply = sign_in_with(web, "ann")
    assert reply.status == 200, reply.text
    assert 'http-equiv="refresh"' in reply.text and 'href="/home"' in reply.text
    assert signed_in_as(web) == "ann@plan.example"
    account = stack.services().accounts.get("ann@plan.example")
    assert account is not None and account.is_associate and account.password_hash is None
    assert account.display_name == "Ann Associate" and not account.administrator
    (created,) = audit_events(stack, "account.created")
    assert (created["account"], created["reason"]) == ("ann@plan.example", "federated_first_signin")
    assert created["detail"]["provider"] == "associates"
    succeeded = audit_events(stack, "signin.succeeded")[-1]
    assert succeeded["detail"]["method"] == "oidc" and succeeded["detail"]["provider"] == "associates"
    # The link names the account by issuer and subject (ASVS 6.8.1), hashed.
    item = stack.client("dynamodb").get_item(
        TableName=stack.env["SEALPOST_ACCOUNTS_TABLE"], Key={"pk": {"S": link_key(idp.issuer, "ann")}}
    )["Item"]
    assert item["username"]["S"] == "ann@plan.example"
    # The second sign-in finds the same account through the link and creates nothing.
    again = sign_in_with(web, "ann")
    assert again.status == 200 and len(audit_events(stack, "account.created")) == 1


def test_the_session_cookie_is_strict_and_the_transaction_cookie_lax_and_single_use(
    stack: Stack, web: Any, sign_in_with: Any
) -> None:
    started = web.get("/auth/associates/start")
    (cookie,) = started.set_cookies()
    assert cookie.startswith("__Host-sealpost_oidc=") and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "HttpOnly" in cookie and "Max-Age=600" in cookie
    reply = sign_in_with(web, "ann")
    cookies = reply.set_cookies()
    assert any(c.startswith("__Host-sealpost_session=") and "SameSite=Strict" in c for c in cookies)
    assert any(c.startswith("__Host-sealpost_oidc=;") and "Max-Age=0" in c for c in cookies)


def test_an_existing_associate_is_linked_not_created(stack: Stack, web: Any, sign_in_with: Any, associate: Any) -> None:
    reply = sign_in_with(web, "alice")  # Alice@Plan.Example at the provider, alice@plan.example here
    assert reply.status == 200, reply.text
    assert signed_in_as(web) == associate.username
    (linked,) = audit_events(stack, "account.linked")
    assert linked["account"] == associate.username and linked["detail"]["provider"] == "associates"
    assert audit_events(stack, "account.created") == [] or all(
        r["reason"] != "federated_first_signin" for r in audit_events(stack, "account.created")
    )


def test_outside_domain_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    reply = sign_in_with(web, "eve")
    assert reply.status == 403 and "did not succeed" in reply.text
    assert signed_in_as(web) is None
    assert refusal(stack)["reason"] == "outside_domain"
    assert stack.services().accounts.get("eve@elsewhere.example") is None


def test_an_unverified_address_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    assert sign_in_with(web, "unverified").status == 403
    assert refusal(stack)["reason"] == "email_unverified"


def test_an_address_without_email_verified_is_refused_unless_the_provider_is_the_plans_directory(
    stack: Stack, web: Any, new_browser: Any, sign_in_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sign_in_with(web, "directory").status == 403  # AssociateIdpEmailVerified=required (default)
    assert refusal(stack)["reason"] == "email_unverified"
    monkeypatch.setenv("SEALPOST_ASSOCIATE_IDP_EMAIL_VERIFIED", "directory")
    entra_like = new_browser()
    assert sign_in_with(entra_like, "directory").status in (200, 303)
    assert signed_in_as(entra_like) == "dora@plan.example"
    # An explicit false is never taken, not even from the plan's directory.
    assert sign_in_with(new_browser(), "unverified").status == 403
    assert refusal(stack)["reason"] == "email_unverified"


def test_a_person_outside_the_associate_group_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    assert sign_in_with(web, "outsider").status == 403
    assert refusal(stack)["reason"] == "not_in_group"
    assert stack.services().accounts.get("outsider@plan.example") is None


def test_missing_amr_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    reply = sign_in_with(web, "nomfa")  # the provider says only "pwd": one factor
    assert reply.status == 403 and signed_in_as(web) is None
    assert refusal(stack)["reason"] == "idp_mfa_missing"
    assert stack.services().accounts.get("nomfa@plan.example") is None


def test_admin_group_maps_to_administrator(stack: Stack, web: Any, new_browser: Any, sign_in_with: Any) -> None:
    assert sign_in_with(web, "boss").status == 200
    boss = stack.services().accounts.get("boss@plan.example")
    assert boss is not None and boss.administrator and boss.public_view(3)["administrator"] is True
    assert audit_events(stack, "account.created")[-1]["detail"]["administrator"] == "True"
    assert sign_in_with(new_browser(), "ann").status == 200
    ann = stack.services().accounts.get("ann@plan.example")
    assert ann is not None and not ann.administrator


def test_losing_the_admin_group_is_an_audited_role_change(
    stack: Stack, web: Any, sign_in_with: Any, idp: TestIdp
) -> None:
    assert sign_in_with(web, "boss").status == 200
    people = associates_idp_accounts()
    people["boss"] = user(PASSWORD, "boss@plan.example", groups=[ASSOCIATE_GROUP], amr=MFA)
    try:
        idp.restart(accounts=people)
        assert sign_in_with(web, "boss").status == 200
    finally:
        idp.restart(accounts=associates_idp_accounts())
    boss = stack.services().accounts.get("boss@plan.example")
    assert boss is not None and not boss.administrator
    (changed,) = audit_events(stack, "account.role_changed")
    assert changed["account"] == "boss@plan.example" and changed["detail"]["administrator"] == "False"


def test_removed_group_disables(stack: Stack, web: Any, new_browser: Any, sign_in_with: Any, idp: TestIdp) -> None:
    signed_in = web
    assert sign_in_with(signed_in, "leaver").status == 200
    people = associates_idp_accounts()
    people["leaver"] = user(PASSWORD, "leaver@plan.example", groups=["alumni"], amr=MFA)
    try:
        idp.restart(accounts=people)
        assert sign_in_with(new_browser(), "leaver").status == 403
    finally:
        idp.restart(accounts=associates_idp_accounts())
    assert refusal(stack)["reason"] == "not_in_group"
    account = stack.services().accounts.get("leaver@plan.example")
    assert account is not None and str(account.status) == "terminated"
    (terminated,) = audit_events(stack, "account.terminated")
    assert (terminated["account"], terminated["reason"]) == ("leaver@plan.example", "idp_group_removed")
    assert signed_in_as(signed_in) is None  # its sessions ended with it
    # Back in the group is not back in: an associate enables the account (sealpost-admin enable).
    assert sign_in_with(new_browser(), "leaver").status == 403
    assert refusal(stack)["reason"] == "terminated"


def test_a_replayed_callback_is_refused_before_the_provider_is_asked(stack: Stack, web: Any, sign_in_with: Any) -> None:
    back = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    assert callback(web, back).status == 200
    token_calls_before = len(audit_events(stack, "signin.succeeded"))
    replayed = callback(web, back)
    assert replayed.status == 403
    assert refusal(stack)["reason"] == "state_unknown"
    assert len(audit_events(stack, "signin.succeeded")) == token_calls_before


def test_a_callback_in_another_browser_is_refused(stack: Stack, web: Any, new_browser: Any, sign_in_with: Any) -> None:
    back = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    attacker = new_browser()
    assert callback(attacker, back).status == 403  # no transaction cookie of this sign-in
    assert refusal(stack)["reason"] == "state_unknown" and signed_in_as(attacker) is None


def test_a_replayed_code_is_refused_by_the_provider(
    stack: Stack, web: Any, new_browser: Any, sign_in_with: Any
) -> None:
    from urllib.parse import parse_qs, urlsplit

    first = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    assert callback(web, first).status == 200
    # A new sign-in of the same browser, answered with the code the provider already redeemed.
    second = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    query = parse_qs(urlsplit(second.url).query)
    reply = web.get(f"/auth/associates/callback?code={first.code}&state={query['state'][0]}&iss={query['iss'][0]}")
    assert reply.status == 403
    failed = refusal(stack)
    assert (failed["reason"], failed["detail"]["provider_error"]) == ("idp_error", "invalid_grant")


def test_a_provider_error_is_refused_and_audited(stack: Stack, web: Any, sign_in_with: Any) -> None:
    back = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    query = f"error=access_denied&state={back.state}&iss={back.params['iss']}"
    assert web.get(f"/auth/associates/callback?{query}").status == 403
    failed = refusal(stack)
    assert (failed["reason"], failed["detail"]["provider_error"]) == ("idp_error", "access_denied")


def test_a_response_from_another_issuer_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    back = sign_in_with.at_provider(web, "ann", provider="associates", password=PASSWORD)
    query = f"code={back.code}&state={back.state}&iss=https%3A%2F%2Fevil.example"
    assert web.get(f"/auth/associates/callback?{query}").status == 403
    failed = refusal(stack)
    assert (failed["reason"], failed["detail"]["provider_error"]) == ("idp_error", "iss_mismatch")


def test_an_unconfigured_provider_is_not_found(stack: Stack, web: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.wiring import services as services_module

    monkeypatch.setenv("SEALPOST_PARTNER_IDP_ISSUER", "")
    services_module.reset()
    assert web.get("/auth/partners/start").status == 404
    assert web.get("/auth/elsewhere/start").status == 404


def test_break_glass_cannot_be_reached_through_the_provider(stack: Stack, web: Any, sign_in_with: Any) -> None:
    assert DEMO_PASSWORD  # (the break-glass account signs in with its sealed passphrase only)
    services = stack.services()
    from chalicelib.accounts.model import Account, Role, Status

    services.accounts.create(
        Account("ann@plan.example", "ann@plan.example", Role.ASSOCIATE, Status.ACTIVE, break_glass=True),
        claim_email=True,
    )
    assert sign_in_with(web, "ann").status == 403
    assert refusal(stack)["reason"] == "not_linkable"


def test_with_sealpost_mfa_the_own_second_factor_follows_the_provider(
    stack: Stack, web: Any, sign_in_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import services as services_module

    monkeypatch.setenv("SEALPOST_ASSOCIATE_IDP_MFA", "sealpost")
    monkeypatch.setenv("SEALPOST_MFA_POLICY", "required")
    services_module.reset()
    reply = sign_in_with(web, "nomfa")  # one factor at the provider: Sealpost asks its own
    assert reply.status == 200, reply.text
    assert re.search(r'content="0;url=/(enrol|signin/verify)\?next=/home"', reply.text), reply.text
    assert signed_in_as(web) is None  # a pending session reaches the second-factor pages only
    assert audit_events(stack, "signin.succeeded") == []  # not signed in before the factor


def test_an_associate_disabled_by_an_administrator_is_refused_at_the_next_provider_sign_in(
    stack: Stack, web: Any, new_browser: Any, sign_in_with: Any, associate: Any
) -> None:
    assert sign_in_with(web, "ann").status == 200
    assert sign_in_with(new_browser(), "alice").status == 200  # the seeded associate, linked now
    boss = new_browser()
    assert sign_in_with(boss, "boss").status == 200  # an administrator through the admin group
    boss.csrf_token = boss.get("/api/session").json["csrf_token"]
    listed = {a["username"]: a for a in boss.get("/api/associates").json["associates"]}
    assert listed["ann@plan.example"]["linked_provider"] == "associates"
    assert listed["ann@plan.example"]["last_signin_at"] and not listed["ann@plan.example"]["password_signin"]
    assert (listed["alice@plan.example"]["linked_provider"], listed["alice@plan.example"]["password_signin"]) == (
        "associates",
        True,
    )
    assert listed["boss@plan.example"]["administrator"] is True

    disabled = boss.post("/api/associates/ann@plan.example/disable", json_body={})
    assert disabled.status == 200, disabled.text
    assert signed_in_as(web) is None  # her session ended at once
    # The provider still lets her in and lists her in the associate group: Sealpost does not.
    assert sign_in_with(new_browser(), "ann").status == 403
    assert refusal(stack)["reason"] == "terminated"
    assert str(stack.services().accounts.require("ann@plan.example").status) == "terminated"
