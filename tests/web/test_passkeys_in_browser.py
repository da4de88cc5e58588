"""Passkeys in a real browser: Debian's chromium, its WebAuthn virtual authenticator driven through the
DevTools protocol from Playwright, and the portal as `make run` serves it on ``localhost`` (a WebAuthn
relying party must be a host name, and a page on http://localhost is a secure context).

The demo partner has no second factor yet: the first sign-in sets up a passkey (the browser asks the
authenticator, which verifies its user), shows the recovery codes once, and the next sign-in is the
password and the passkey. The page's CSP stays on: every console error fails the journey.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Portal, free_port, launched_portal

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def localhost_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with launched_portal(tmp_path_factory.mktemp("passkey-portal"), free_port(), LOCAL_HOSTNAME="localhost") as portal:
        yield portal


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator with user verification (a fingerprint that always matches)."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return devtools, str(added["authenticatorId"])


def password_step(page: Any, username: str, password: str) -> None:
    page.goto("/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_journey_passkey_enrolment_and_sign_in(
    chromium: Any, localhost_portal: Portal, screenshots: Callable[[Any, str], Path]
) -> None:
    portal = localhost_portal
    assert portal.url.startswith("http://localhost:")
    context = chromium.new_context(base_url=portal.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        devtools, authenticator_id = virtual_authenticator(page)

        # First sign-in: no factor yet, so the enrolment page; the passkey choice appears with the script.
        password_step(page, portal.partner_username, portal.partner_password)
        expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
        passkey_button = page.get_by_role("button", name="Set up a passkey")
        expect(passkey_button).to_be_visible()
        screenshots(page, "enrol-with-passkey")
        with page.expect_navigation(url=re.compile(r"/enrol/recovery-codes")):
            passkey_button.click()
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        assert len(page.locator(".recovery-codes code").all_inner_texts()) == 10
        (credential,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
        assert credential["isResidentCredential"] is True
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^I have saved my recovery codes")).click()
        page.goto("/account/security")
        expect(page.get_by_role("cell", name="This device (fingerprint, face or PIN)")).to_be_visible()
        screenshots(page, "security-with-passkey")
        page.get_by_role("button", name=re.compile("^Sign out")).click()
        page.wait_for_url(re.compile(r"/signin\?notice=signed_out"))

        # Next sign-in: the password, then the passkey (the authenticator signs this page's challenge).
        password_step(page, portal.partner_username, portal.partner_password)
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        expect(page.get_by_label("Recovery code")).to_be_visible()  # no app: the codes are the fallback
        use_passkey = page.get_by_role("button", name="Use your passkey")
        screenshots(page, "verify-with-passkey")
        with page.expect_navigation():
            use_passkey.click()
        expect(page.get_by_role("heading", name="Secure inbox")).to_be_visible()
        assert context.request.get("/api/session").json()["username"] == portal.partner_username
        (used,) = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
        assert used["signCount"] > credential["signCount"]
        screenshots(page, "signed-in-with-passkey")

    finally:
        context.close()
    assert not [e for e in errors if "status of 4" not in e], errors
