"""The partners' provider (chalicelib/identity/federation.py, a second, separately configured issuer):
outside users sign in with it only to an account an associate made for their address (R1), and the
identities of the two providers never reach each other's accounts (ASVS 6.8.1)."""

from __future__ import annotations

from typing import Any

from chalicelib.identity.links import link_key
from tests.conftest import Stack
from tests.identity.conftest import signed_in_as
from tests.identity_provider import TestIdp
from tests.support import WebClient, audit_events


def invite(associate: WebClient, email: str) -> str:
    """An associate (signed in through the associates' provider) creates the partner's account."""
    associate.csrf_token = associate.get("/api/session").json["csrf_token"]
    created = associate.post("/api/accounts", json_body={"email": email, "display_name": "Bob Partner"})
    assert created.status == 201, created.text
    return str(created.json["account"]["username"])


def test_a_partner_with_an_invitation_signs_in_through_the_partner_provider(
    stack: Stack, new_browser: Any, sign_in_with: Any, partner_idp: TestIdp
) -> None:
    associate = new_browser()
    assert sign_in_with(associate, "ann").status == 200
    username = invite(associate, "bob@clinic.example")
    assert str(stack.services().accounts.require(username).status) == "invited"
    partner = new_browser()
    reply = sign_in_with(partner, "bob", provider="partners")
    assert reply.status == 200, reply.text
    assert signed_in_as(partner) == username
    account = stack.services().accounts.require(username)
    assert str(account.status) == "active" and account.password_hash is None and not account.is_associate
    linked = audit_events(stack, "account.linked")[-1]
    assert (linked["account"], linked["detail"]["provider"]) == (username, "partners")
    succeeded = audit_events(stack, "signin.succeeded")[-1]
    assert (succeeded["account"], succeeded["detail"]["provider"]) == (username, "partners")


def test_a_provider_user_without_an_account_is_refused(stack: Stack, web: Any, sign_in_with: Any) -> None:
    reply = sign_in_with(web, "stranger", provider="partners")
    assert reply.status == 403 and signed_in_as(web) is None
    failed = audit_events(stack, "signin.failed")[-1]
    assert (failed["reason"], failed["detail"]["provider"]) == ("no_invitation", "partners")
    assert stack.services().accounts.username_for_email("stranger@clinic.example") is None  # R1: nothing made
    assert audit_events(stack, "account.created") == []


def test_identities_of_two_providers_do_not_mix(
    stack: Stack, new_browser: Any, sign_in_with: Any, idp: TestIdp, partner_idp: TestIdp
) -> None:
    # The subject "shared" is carl@plan.example at the associates' provider, bob@clinic.example at the
    # partners' one; "ann" at the partners' provider claims an associate's address.
    associate = new_browser()
    assert sign_in_with(associate, "ann").status == 200
    bob = invite(associate, "bob@clinic.example")
    carl_browser, bob_browser, fake_ann = new_browser(), new_browser(), new_browser()
    assert sign_in_with(carl_browser, "shared").status == 200
    assert sign_in_with(bob_browser, "shared", provider="partners").status == 200
    assert signed_in_as(carl_browser) == "carl@plan.example" and signed_in_as(bob_browser) == bob
    assert link_key(idp.issuer, "shared") != link_key(partner_idp.issuer, "shared")
    # An associate's address at the partners' provider reaches no account (associates use their own).
    assert sign_in_with(fake_ann, "ann", provider="partners").status == 403
    assert signed_in_as(fake_ann) is None
    assert audit_events(stack, "signin.failed")[-1]["reason"] == "no_invitation"
    # A start at one provider cannot be finished at the other.
    browser = new_browser()
    back = sign_in_with.at_provider(browser, "shared", provider="associates", password="idp-test-password")
    crossed = browser.get(f"/auth/partners/callback?code={back.code}&state={back.state}&iss={partner_idp.issuer}")
    assert crossed.status == 403 and signed_in_as(browser) is None
    assert audit_events(stack, "signin.failed")[-1]["reason"] == "state_unknown"
