"""State-changing requests must come from our own pages (CSRF defence in depth)."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient


def test_json_changes_need_the_session_bound_csrf_token(associate_web: WebClient) -> None:
    token = associate_web.csrf_token
    associate_web.csrf_token = None
    reply = associate_web.post("/api/accounts", json_body={"email": "x@clinic.example"})
    assert reply.status == 403 and reply.json["error"] == "csrf_rejected"
    associate_web.csrf_token = "A" * 43
    assert associate_web.post("/api/accounts", json_body={"email": "x@clinic.example"}).status == 403
    associate_web.csrf_token = token
    assert associate_web.post("/api/accounts", json_body={"email": "x@clinic.example"}).status == 201


def test_another_sessions_token_does_not_work(new_browser: Any, make_partner: Any) -> None:
    one, two = make_partner("p1@clinic.example"), make_partner("p2@clinic.example")
    first, second = new_browser(), new_browser()
    first.sign_in(one.username, PARTNER_PASSWORD)
    second.sign_in(two.username, PARTNER_PASSWORD)
    first.csrf_token = second.csrf_token
    assert first.request("DELETE", "/api/session").status == 403


def test_cross_site_requests_are_refused_even_with_a_token(associate_web: WebClient) -> None:
    for headers in (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ):
        reply = associate_web.post("/api/accounts", json_body={"email": "x@clinic.example"}, headers=headers)
        assert reply.status == 403, headers


def test_same_origin_browser_requests_pass(associate_web: WebClient) -> None:
    headers = {"origin": "https://portal.test", "sec-fetch-site": "same-origin"}
    assert associate_web.post("/api/accounts", json_body={"email": "y@clinic.example"}, headers=headers).status == 201


def test_form_posts_with_a_null_origin_pass_on_the_token(new_browser: Any, partner: Account) -> None:
    # Referrer-Policy: no-referrer makes browsers send "Origin: null" on same-origin form posts.
    browser = new_browser()
    token = browser.form_token("/signin")
    reply = browser.post(
        "/signin",
        form={"csrf_token": token, "username": partner.username, "password": PARTNER_PASSWORD},
        headers={"origin": "null"},
    )
    assert reply.status == 303


def test_forms_need_their_token(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    browser.csrf_token = None
    assert browser.post("/signout", form={}).status == 403
    assert browser.post("/signout", form={"csrf_token": "forged"}).status == 403
    assert browser.submit("/home", "/signout", {}).status == 303


def test_the_sign_in_form_needs_the_double_submit_token(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    reply = browser.post("/signin", form={"username": partner.username, "password": PARTNER_PASSWORD})
    assert reply.status == 403
    assert "__Host-sealpost_session" not in browser.cookies
    browser.get("/signin")  # sets the form cookie
    reply = browser.post(
        "/signin", form={"username": partner.username, "password": PARTNER_PASSWORD, "csrf_token": "x"}
    )
    assert reply.status == 403


def test_pages_for_signed_in_users_send_strangers_to_sign_in(web: WebClient, stack: Any) -> None:
    reply = web.get("/home")
    assert reply.status == 303
    assert reply.header("location") == "/signin?next=/home"
