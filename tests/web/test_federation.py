"""The pages of chalicelib/web/federation.py: the sign-in page's "Sign in with <plan>" link (a plain
GET, so the CSP's form-action never meets the provider), the start's redirect, the continue page, and
sign-out that offers the provider's own sign-out to a session that came from it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.wiring import services as services_module
from tests.identity.conftest import partner_idp, sign_in_with, stack  # noqa: F401 - the providers' stack
from tests.identity_provider import TestIdp
from tests.support import PORTAL_URL


def test_the_sign_in_page_links_to_the_provider_with_a_plain_get(web: Any) -> None:
    page = web.get("/signin?next=/threads/t1")
    link = re.search(r'<a class="button" href="([^"]+)">Sign in with Sealpost</a>', page.text)
    assert link and link.group(1) == "/auth/associates/start?next=/threads/t1"
    assert 'action="/auth' not in page.text  # no form posts to the start
    assert "form-action 'self'" in page.header("content-security-policy")


def test_no_link_when_no_provider_is_configured(web: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALPOST_ASSOCIATE_IDP_ISSUER", "")
    services_module.reset()
    assert "Sign in with" not in web.get("/signin").text


def test_the_start_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(web: Any, idp: TestIdp) -> None:
    started = web.get("/auth/associates/start")
    assert started.status == 302
    location = urlsplit(started.header("location"))
    assert f"{location.scheme}://{location.netloc}" == idp.issuer
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == "sealpost" and query["response_type"] == "code"
    assert query["redirect_uri"] == PORTAL_URL + "/auth/associates/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) == 43 and len(query["nonce"]) == 43 and query["state"] != query["nonce"]
    assert query["scope"].split()[0] == "openid"
    # Two starts (two tabs) share the browser's cookie and get their own state.
    again = web.get("/auth/associates/start")
    assert parse_qs(urlsplit(again.header("location")).query)["state"][0] != query["state"]


def test_the_continue_page_carries_the_session_on_to_home(web: Any, sign_in_with: Any) -> None:  # noqa: F811
    reply = sign_in_with(web, "ann")
    assert reply.status == 200
    assert '<meta http-equiv="refresh" content="0;url=/home">' in reply.text
    assert web.get("/home").status == 200


def test_signing_out_offers_the_providers_sign_out(web: Any, sign_in_with: Any, idp: TestIdp) -> None:  # noqa: F811
    assert sign_in_with(web, "ann").status == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/home").text)
    assert token
    out = web.post("/signout", form={"csrf_token": token.group(1)})
    assert out.status == 303 and out.header("location") == "/signed-out?provider=associates"
    page = web.get(out.header("location"))
    link = re.search(r'href="([^"]+)" id="provider-sign-out"', page.text)
    assert link
    end = urlsplit(link.group(1).replace("&amp;", "&"))
    assert f"{end.scheme}://{end.netloc}{end.path}" == idp.issuer + "/session/end"
    assert parse_qs(end.query) == {"client_id": ["sealpost"], "post_logout_redirect_uri": [PORTAL_URL + "/signin"]}
    assert web.get("/api/session").status == 401
