"""Signing in through the plan's OpenID provider in a real browser (chalicelib/web/federation.py):
the real provider (npm's oidc-provider) on 127.0.0.1, the portal as `make run` serves it on
``localhost``, another site, so the SameSite rules are the ones of a deployment: the provider's
redirect back carries only the Lax transaction cookie, and the continue page carries the Strict
session cookie on to /home."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Portal, launched_portal
from tests.identity_provider import ADMIN_GROUP, ASSOCIATE_GROUP, CLIENT_SECRET, PASSWORD, TestIdp

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def idp_portal(tmp_path_factory: pytest.TempPathFactory, idp: TestIdp, portal_port: int) -> Iterator[Portal]:
    with launched_portal(
        tmp_path_factory.mktemp("idp-portal"),
        portal_port,
        LOCAL_HOSTNAME="localhost",
        LOCAL_IDP_ISSUER=idp.issuer,
        LOCAL_IDP_CLIENT_ID="sealpost",
        LOCAL_IDP_CLIENT_SECRET=CLIENT_SECRET,
        LOCAL_IDP_SCOPES="openid email profile groups",
        LOCAL_IDP_ASSOCIATE_GROUP=ASSOCIATE_GROUP,
        LOCAL_IDP_ADMIN_GROUP=ADMIN_GROUP,
        LOCAL_IDP_MFA="amr",
    ) as portal:
        yield portal


def test_an_associate_signs_in_through_the_provider(
    chromium: Any, idp_portal: Portal, idp: TestIdp, screenshots: Callable[[Any, str], Path]
) -> None:
    assert idp_portal.url.startswith("http://localhost:") and idp.issuer.startswith("http://127.0.0.1:")
    context = chromium.new_context(base_url=idp_portal.url)
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto("/signin")
        screenshots(page, "signin-page")
        # A plain link (a form posted to us and sent on to the provider would break form-action 'self').
        page.get_by_role("link", name="Sign in with Sealpost").click()
        page.wait_for_url(re.compile(re.escape(idp.issuer) + r"/interaction/"))
        screenshots(page, "provider-sign-in")
        page.get_by_label("User").fill("ann")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # The callback's continue page, then /home with the session (its cookie is SameSite=Strict).
        page.wait_for_url(re.compile(re.escape(idp_portal.url) + r"/home"))
        screenshots(page, "home")
        expect(page.get_by_role("link", name="Accounts", exact=True)).to_be_visible()  # an associate's page
        assert context.request.get("/api/session").json()["username"] == "ann@plan.example"
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["__Host-sealpost_session"]["sameSite"] == "Strict"
        assert "__Host-sealpost_oidc" not in cookies  # single use: cleared by the callback
        # Signing out ends our session and offers the provider's own sign-out.
        page.get_by_role("button", name=re.compile("^Sign out")).click()
        page.wait_for_url(re.compile(r"/signed-out\?provider=associates"))
        screenshots(page, "signed-out")
        link = page.get_by_role("link", name="Sign out of the sign-in service")
        assert (link.get_attribute("href") or "").startswith(idp.issuer + "/session/end?client_id=sealpost")
        page.goto("/home")
        page.wait_for_url(re.compile(r"/signin"))
    finally:
        context.close()
    assert not [e for e in errors if "status of 4" not in e], errors
