"""The second factor at the edge: a pending session reaches nothing but the second-factor pages, and
those pages work without JavaScript."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app import app
from chalicelib.accounts.sessions import COOKIE_NAME, csrf_token_for
from tests.conftest import PARTNER_PASSWORD, Conversation
from tests.support import DEMO_PASSWORD, SECOND_FACTORS, WebClient, link_in, sent_mail

# What a pending session is for.
SECOND_FACTOR = re.compile(r"^/(signin/verify|enrol|api/session/second-factor)")
# What anybody reaches, signed in or not (sign-in, links from mail, static files, the edge's 404).
ANYONE = re.compile(
    r"^/($|signin$|signout$|forgot|reset/|register/|p/|static/|auth/|signed-out|uploads/received$"
    r"|api/session$|api/register|api/password/(forgot|reset)|api/pickup/)"
)


def routes_behind_sign_in() -> list[tuple[str, str]]:
    return sorted(
        (method, path)
        for path, methods in app.routes.items()
        if "{p0}" not in path and not SECOND_FACTOR.match(path) and not ANYONE.match(path)
        for method in methods
    )


def concrete(path: str, conversation: Conversation) -> str:
    path = path.replace("{thread_id}", conversation.thread_id).replace("{username}", conversation.partner_username)
    return re.sub(r"\{[^}]+\}", "A" * 43, path)


def waiting_for_the_code(browser: WebClient, username: str) -> WebClient:
    first = browser.post("/api/session", json_body={"username": username, "password": PARTNER_PASSWORD})
    assert first.json["second_factor_required"] is True, first.text
    browser.csrf_token = first.json["csrf_token"]
    return browser


def waiting_for_enrolment(browser: WebClient, associate: WebClient, email: str) -> WebClient:
    assert associate.post("/api/accounts", json_body={"email": email}).status == 201
    token = link_in(next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == email), "/register/")
    registered = browser.post(
        "/api/register", json_body={"token": token.rsplit("/", 1)[1], "password": PARTNER_PASSWORD}
    )
    assert registered.status == 201 and registered.json["enrolment_required"] is True, registered.text
    browser.csrf_token = registered.json["csrf_token"]
    return browser


def assert_works_without_javascript(html: str) -> None:
    """The page's only scripts are the passkey options (data, never run) and /static/passkeys.js, and
    every passkey form stays hidden until that script finds WebAuthn: the code forms serve without it."""
    scripts = re.findall(r"<script[^>]*>", html)
    assert all('type="application/json"' in s or 'src="/static/passkeys.js"' in s for s in scripts), scripts
    assert all(" hidden" in form for form in re.findall(r"<form[^>]*data-passkey=[^>]*>", html))


@pytest.mark.parametrize("stage", ["factor", "enrol"])
def test_required_policy_lets_no_partner_reach_a_thread_without_a_factor(
    stage: str, conversation: Conversation, new_browser: Any
) -> None:
    browser = new_browser()
    if stage == "factor":
        waiting_for_the_code(browser, conversation.partner_username)
    else:
        waiting_for_enrolment(browser, conversation.associate, "nell@clinic.example")
    # The pending session's own CSRF token goes with every change: what stops it is that nobody is signed in.
    assert browser.csrf_token == csrf_token_for(browser.cookies[COOKIE_NAME])
    swept = routes_behind_sign_in()
    assert ("GET", "/api/threads/{thread_id}") in swept and ("GET", "/threads/{thread_id}") in swept
    for method, path in swept:
        address = concrete(path, conversation)
        if path.startswith("/api/"):
            reply = browser.request(method, address, json_body={})
            assert reply.status == 401 and reply.json["error"] == "authentication_required", (method, path, reply.text)
        else:
            form = {"csrf_token": str(browser.csrf_token), "text": "x"} if method != "GET" else None
            reply = browser.request(method, address, form=form)
            to_sign_in = reply.status == 303 and reply.header("location").startswith("/signin")
            assert to_sign_in or reply.status == 401, (method, path, reply.status)  # a change: 401, nothing done
    # The pending session still leads to its own step, and nowhere else.
    page = "/signin/verify" if stage == "factor" else "/enrol"
    assert browser.get(page).status == 200


def test_the_code_page_works_without_javascript(partner: Any, new_browser: Any) -> None:
    browser = new_browser()
    first = browser.submit(
        "/signin", "/signin", {"username": partner.username, "password": PARTNER_PASSWORD, "next": "/account"}
    )
    assert first.status == 303 and first.header("location") == "/signin/verify?next=/account"
    page = browser.get(first.header("location"))
    assert page.status == 200 and "<script" not in page.text
    field = re.search(r"<input id=\"code\"[^>]*>", page.text, re.S)
    assert field and 'autocomplete="one-time-code"' in field.group(0) and 'inputmode="numeric"' in field.group(0)
    assert '<label for="code">' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    wrong = browser.post("/signin/verify", form={"csrf_token": token, "next": "/account", "code": "000000x"})
    assert wrong.status == 401 and 'aria-invalid="true"' in wrong.text and "not right" in wrong.text
    assert 'name="next" value="/account"' in wrong.text  # the page asked for survives a mistake
    code = SECOND_FACTORS.code(partner.email)
    done = browser.post("/signin/verify", form={"csrf_token": token, "next": "/account", "code": code})
    assert done.status == 303 and done.header("location") == "/account"
    assert browser.get("/account").status == 200


def test_enrolment_shows_the_qr_code_and_the_secret_once_then_the_recovery_codes_once(
    associate: Any, new_browser: Any
) -> None:
    browser = new_browser()
    first = browser.submit("/signin", "/signin", {"username": associate.username, "password": DEMO_PASSWORD})
    assert first.status == 303 and first.header("location") == "/enrol?next=/home"
    page = browser.get("/enrol?next=/home")
    assert page.status == 200 and "<svg" in page.text and "Skip for now" not in page.text
    assert_works_without_javascript(page.text)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text).group(1)
    assert len(secret.split(" ")) == 8 and all(len(group) == 4 for group in secret.split(" "))
    again = browser.get("/enrol?next=/home")  # a reload offers a new seed: the first one is never shown again
    assert secret not in again.text
    done = browser.through_second_factor(first, associate.username)
    assert done.status == 303 and done.header("location") == "/home"
    assert len(browser.recovery_codes) == 10
    shown_once = browser.get("/enrol/recovery-codes")
    assert shown_once.status == 303 and shown_once.header("location") == "/account/security"
    security = browser.get("/account/security")
    assert security.status == 200 and "10 of 10 unused recovery codes left" in security.text
    assert browser.recovery_codes[0] not in security.text


def passkey_options(html: str, block: str) -> str:
    found = re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', html, re.S)
    assert found, f"no {block} on the page"
    return found.group(1)


def test_the_passkey_forms_post_the_browsers_answer_like_any_form(partner: Any, new_browser: Any) -> None:
    from tests.mfa.test_passkey_factor import authenticator

    key = authenticator()
    browser = new_browser()
    assert browser.sign_in_page(partner.username, PARTNER_PASSWORD).status == 303
    security = browser.get("/account/security")
    assert "No passkey is set up" in security.text
    assert_works_without_javascript(security.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', security.text).group(1)
    answer = key.create(passkey_options(security.text, "passkey-create-options"))
    fields = {"csrf_token": token, "next": "/account/security", "proof": PARTNER_PASSWORD}
    added = browser.post("/enrol/passkey", form={**fields, "credential": json.dumps(answer)})
    assert added.status == 303 and added.header("location") == "/account/security?notice=passkey_added"
    listed = browser.get("/account/security?notice=passkey_added")
    assert "Your passkey has been added" in listed.text and "This device (fingerprint, face or PIN)" in listed.text
    # The next sign-in offers the passkey beside the app's code.
    later = new_browser()
    first = later.submit("/signin", "/signin", {"username": partner.username, "password": PARTNER_PASSWORD})
    page = later.get(first.header("location"))
    assert 'action="/signin/verify/passkey"' in page.text and "Use your passkey" in page.text
    assert_works_without_javascript(page.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    wrong = later.post("/signin/verify/passkey", form={"csrf_token": token, "next": "/home", "credential": "{}"})
    assert wrong.status == 401 and "That passkey was not accepted" in wrong.text
    answer = key.get(passkey_options(wrong.text, "passkey-sign-in-options"))  # the page after a mistake: a new one
    done = later.post(
        "/signin/verify/passkey", form={"csrf_token": token, "next": "/home", "credential": json.dumps(answer)}
    )
    assert done.status == 303 and done.header("location") == "/home"
    assert later.get("/home").status == 200
