"""Sign-in and the three-strike lockout (R3), without user enumeration."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account
from chalicelib.accounts.signin import CAPS_LOCK_WARNING
from tests.conftest import PARTNER_PASSWORD
from tests.support import WebClient

WRONG = "this is not the password"


def attempts(web: WebClient, username: str, password: str, times: int) -> list[Any]:
    return [web.post("/api/session", json_body={"username": username, "password": password}) for _ in range(times)]


def shape(reply: Any) -> tuple[int, list[str], str, str | None]:
    body = reply.json
    return reply.status, sorted(body), body["error"], body["warning"]


def test_the_right_password_signs_in(web: WebClient, partner: Account) -> None:
    reply = web.sign_in(partner.username, PARTNER_PASSWORD)
    assert reply.status == 200
    assert reply.json["username"] == partner.username
    assert web.get("/api/session").json["role"] == "partner"


def test_first_failure_says_only_that_the_credentials_are_wrong(web: WebClient, partner: Account) -> None:
    (first,) = attempts(web, partner.username, WRONG, 1)
    assert first.status == 401
    assert first.json["error"] == "invalid_credentials"
    assert first.json["warning"] is None


def test_second_failure_warns_about_spelling_and_caps_lock(web: WebClient, partner: Account) -> None:
    _, second = attempts(web, partner.username, WRONG, 2)
    assert second.status == 401
    assert second.json["warning"] == CAPS_LOCK_WARNING
    assert "Caps Lock" in second.json["warning"]


def test_third_failure_locks_and_says_whom_to_contact(web: WebClient, partner: Account, stack: Any) -> None:
    *_, third = attempts(web, partner.username, WRONG, 3)
    assert third.status == 401
    assert third.json["error"] == "account_locked"
    assert "contact the associate" in third.json["message"]
    assert stack.services().accounts.get(partner.username).failed_attempts == 3


def test_a_locked_account_refuses_the_right_password(web: WebClient, partner: Account) -> None:
    attempts(web, partner.username, WRONG, 3)
    reply = web.post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert reply.status == 401
    assert reply.json["error"] == "account_locked"
    assert "__Host-sealpost_session" not in web.cookies


def test_a_success_resets_the_failure_counter(web: WebClient, partner: Account, stack: Any) -> None:
    attempts(web, partner.username, WRONG, 2)
    assert web.sign_in(partner.username, PARTNER_PASSWORD).status == 200
    assert stack.services().accounts.get(partner.username).failed_attempts == 0
    # Two more failures only warn again; the count started over.
    _, second = attempts(web, partner.username, WRONG, 2)
    assert second.json["error"] == "invalid_credentials"


def test_unknown_user_and_wrong_password_are_indistinguishable(
    web: WebClient, new_browser: Any, partner: Account
) -> None:
    real = attempts(web, partner.username, WRONG, 4)
    unknown = attempts(new_browser(), "nobody-123456", WRONG, 4)
    assert [shape(r) for r in real] == [shape(r) for r in unknown]
    assert [r.json["message"] for r in real] == [r.json["message"] for r in unknown]
    assert [r.json["error"] for r in real] == [
        "invalid_credentials",
        "invalid_credentials",
        "account_locked",
        "account_locked",
    ]


def test_unknown_user_names_are_checked_against_a_dummy_hash(web: WebClient, stack: Any, monkeypatch: Any) -> None:
    from chalicelib.accounts import signin

    checked: list[str] = []
    real_verify = signin.verify_password
    monkeypatch.setattr(signin, "verify_password", lambda h, p: checked.append(h) or real_verify(h, p))
    attempts(web, "nobody-123456", WRONG, 1)
    assert checked == [signin.dummy_hash()]


def test_unknown_user_names_are_never_stored(web: WebClient, stack: Any) -> None:
    attempts(web, "typed-secret-name", WRONG, 3)
    table = stack.client("dynamodb")
    items = table.scan(TableName=stack.env["SEALPOST_ACCOUNTS_TABLE"])["Items"]
    assert "typed-secret-name" not in repr(items)
    assert any(item["pk"]["S"].startswith("GUARD#") for item in items)


def test_a_terminated_account_cannot_sign_in(web: WebClient, associate_web: WebClient, partner: Account) -> None:
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 200
    reply = web.post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert reply.status == 403
    assert reply.json["error"] == "account_closed"


def test_an_invited_account_without_a_password_cannot_sign_in(associate_web: WebClient, new_browser: Any) -> None:
    created = associate_web.post("/api/accounts", json_body={"email": "carol@lab.example"})
    username = created.json["account"]["username"]
    reply = new_browser().post("/api/session", json_body={"username": username, "password": WRONG})
    assert reply.status == 401
    assert reply.json["error"] == "invalid_credentials"


def test_sign_in_form_shows_the_warning_and_then_the_lock(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    pages = [browser.submit("/signin", "/signin", {"username": partner.username, "password": WRONG}) for _ in range(3)]
    assert [p.status for p in pages] == [401, 401, 401]
    assert "Caps Lock" not in pages[0].text
    assert "Caps Lock" in pages[1].text
    assert "locked" in pages[2].text and "contact the associate" in pages[2].text


def test_sign_in_form_sets_the_session_and_goes_to_a_local_next_page(new_browser: Any, partner: Account) -> None:
    browser = new_browser()
    reply = browser.submit(
        "/signin?next=/account",
        "/signin",
        {"username": partner.username, "password": PARTNER_PASSWORD, "next": "/account"},
    )
    assert reply.status == 303
    assert reply.header("location") == "/account"
    assert browser.get("/account").status == 200


def test_sign_in_never_redirects_to_another_site(new_browser: Any, partner: Account) -> None:
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/%0d%0aX"):
        browser = new_browser()
        reply = browser.submit(
            "/signin", "/signin", {"username": partner.username, "password": PARTNER_PASSWORD, "next": evil}
        )
        assert reply.status == 303
        location = reply.header("location")
        assert location.startswith("/") and not location.startswith("//"), (evil, location)
        assert "evil" not in location
