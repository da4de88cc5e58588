"""Sign-in and the three-strike lockout (R3), without user enumeration: each lockout and enumeration
test runs with the user name and with the mail address in mixed case (``identifier``, tests/accounts/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.accounts.model import Account
from chalicelib.accounts.signin import CAPS_LOCK_WARNING
from tests.accounts.conftest import Identifier
from tests.conftest import PARTNER_PASSWORD
from tests.support import DEMO_PASSWORD, WebClient

WRONG = "this is not the password"


def attempts(web: WebClient, username: str, password: str, times: int) -> list[Any]:
    return [web.post("/api/session", json_body={"username": username, "password": password}) for _ in range(times)]


def shape(reply: Any) -> tuple[int, list[str], str, str | None]:
    body = reply.json
    return reply.status, sorted(body), body["error"], body["warning"]


def test_the_right_password_signs_in(identifier: Identifier, web: WebClient, partner: Account) -> None:
    reply = web.sign_in(identifier.of(partner), PARTNER_PASSWORD)
    assert reply.status == 200
    assert reply.json["username"] == partner.username
    assert web.get("/api/session").json["role"] == "partner"


def test_first_failure_says_only_that_the_credentials_are_wrong(
    identifier: Identifier, web: WebClient, partner: Account
) -> None:
    (first,) = attempts(web, identifier.of(partner), WRONG, 1)
    assert first.status == 401
    assert first.json["error"] == "invalid_credentials"
    assert first.json["warning"] is None


def test_second_failure_warns_about_spelling_and_caps_lock(
    identifier: Identifier, web: WebClient, partner: Account
) -> None:
    _, second = attempts(web, identifier.of(partner), WRONG, 2)
    assert second.status == 401
    assert second.json["warning"] == CAPS_LOCK_WARNING
    assert "Caps Lock" in second.json["warning"]


def test_third_failure_locks_and_says_whom_to_contact(
    identifier: Identifier, web: WebClient, partner: Account, stack: Any
) -> None:
    *_, third = attempts(web, identifier.of(partner), WRONG, 3)
    assert third.status == 401
    assert third.json["error"] == "account_locked"
    assert "contact the associate" in third.json["message"]
    assert stack.services().accounts.get(partner.username).failed_attempts == 3


def test_a_locked_account_refuses_the_right_password(identifier: Identifier, web: WebClient, partner: Account) -> None:
    attempts(web, identifier.of(partner), WRONG, 3)
    reply = web.post("/api/session", json_body={"username": identifier.of(partner), "password": PARTNER_PASSWORD})
    assert reply.status == 401
    assert reply.json["error"] == "account_locked"
    assert "__Host-sealpost_session" not in web.cookies


def test_a_success_resets_the_failure_counter(
    identifier: Identifier, web: WebClient, partner: Account, stack: Any
) -> None:
    attempts(web, identifier.of(partner), WRONG, 2)
    assert web.sign_in(identifier.of(partner), PARTNER_PASSWORD).status == 200
    assert stack.services().accounts.get(partner.username).failed_attempts == 0
    # Two more failures only warn again; the count started over.
    _, second = attempts(web, identifier.of(partner), WRONG, 2)
    assert second.json["error"] == "invalid_credentials"


def test_unknown_user_and_wrong_password_are_indistinguishable(
    identifier: Identifier, web: WebClient, new_browser: Any, partner: Account
) -> None:
    real = attempts(web, identifier.of(partner), WRONG, 4)
    unknown = attempts(new_browser(), identifier.unknown("nobody-123456"), WRONG, 4)
    assert [shape(r) for r in real] == [shape(r) for r in unknown]
    assert [r.json["message"] for r in real] == [r.json["message"] for r in unknown]
    assert [r.json["error"] for r in real] == [
        "invalid_credentials",
        "invalid_credentials",
        "account_locked",
        "account_locked",
    ]


def test_unknown_user_names_are_checked_against_a_dummy_hash(
    identifier: Identifier, web: WebClient, stack: Any, monkeypatch: Any
) -> None:
    from chalicelib.accounts import signin

    checked: list[str] = []
    real_verify = signin.verify_password
    monkeypatch.setattr(signin, "verify_password", lambda h, p: checked.append(h) or real_verify(h, p))
    attempts(web, identifier.unknown("nobody-123456"), WRONG, 1)
    assert checked == [signin.dummy_hash()]


def test_unknown_user_names_are_never_stored(identifier: Identifier, web: WebClient, stack: Any) -> None:
    attempts(web, identifier.unknown("typed-secret-name"), WRONG, 3)
    table = stack.client("dynamodb")
    items = table.scan(TableName=stack.env["SEALPOST_ACCOUNTS_TABLE"])["Items"]
    assert "typed-secret-name" not in repr(items)
    assert any(item["pk"]["S"].startswith("GUARD#") for item in items)


def test_a_terminated_account_cannot_sign_in(
    identifier: Identifier, web: WebClient, associate_web: WebClient, partner: Account
) -> None:
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 200
    reply = web.post("/api/session", json_body={"username": identifier.of(partner), "password": PARTNER_PASSWORD})
    assert reply.status == 403
    assert reply.json["error"] == "account_closed"


def test_an_invited_account_without_a_password_cannot_sign_in(
    identifier: Identifier, associate_web: WebClient, new_browser: Any
) -> None:
    created = associate_web.post("/api/accounts", json_body={"email": "carol@lab.example"})
    name = identifier.either(created.json["account"]["username"], "carol@lab.example")
    reply = new_browser().post("/api/session", json_body={"username": name, "password": WRONG})
    assert reply.status == 401
    assert reply.json["error"] == "invalid_credentials"


def test_sign_in_form_shows_the_warning_and_then_the_lock(
    identifier: Identifier, new_browser: Any, partner: Account
) -> None:
    browser = new_browser()
    pages = [
        browser.submit("/signin", "/signin", {"username": identifier.of(partner), "password": WRONG}) for _ in range(3)
    ]
    assert [p.status for p in pages] == [401, 401, 401]
    assert "Caps Lock" not in pages[0].text
    assert "Caps Lock" in pages[1].text
    assert "locked" in pages[2].text and "contact the associate" in pages[2].text


def test_sign_in_form_sets_the_session_and_goes_to_a_local_next_page(
    identifier: Identifier, new_browser: Any, partner: Account
) -> None:
    browser = new_browser()
    reply = browser.sign_in_page(
        identifier.of(partner), PARTNER_PASSWORD, page="/signin?next=/account", next="/account"
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


# --- the two names of one account ------------------------------------------------------------


def test_failures_by_name_and_by_address_share_one_counter(web: WebClient, partner: Account, stack: Any) -> None:
    first = attempts(web, partner.username, WRONG, 1)[0]
    second = attempts(web, partner.email.upper(), WRONG, 1)[0]
    assert (first.json["warning"], second.json["warning"]) == (None, CAPS_LOCK_WARNING)
    third = attempts(web, partner.username, WRONG, 1)[0]
    assert third.json["error"] == "account_locked"
    assert stack.services().accounts.get(partner.username).failed_attempts == 3
    refused = web.post("/api/session", json_body={"identifier": partner.email, "password": PARTNER_PASSWORD})
    assert refused.json["error"] == "account_locked"


def test_the_json_api_also_takes_the_identifier_field(web: WebClient, partner: Account) -> None:
    reply = web.post("/api/session", json_body={"identifier": partner.email.title(), "password": PARTNER_PASSWORD})
    assert reply.status == 200
    reply = web.second_factor(reply, partner.email)  # MfaPolicy=required: the code after the password
    assert reply.status == 200
    assert reply.json["username"] == partner.username


def aws_calls_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation made from now on, as ``service:Operation``, recorded by botocore's before-call event."""
    import botocore.client

    calls: list[str] = []
    real_init = botocore.client.BaseClient.__init__

    def recording_init(client: Any, *args: Any, **kwargs: Any) -> None:
        real_init(client, *args, **kwargs)
        service = client.meta.service_model.service_name
        client.meta.events.register(
            "before-call", lambda model, **_: calls.append(f"{service}:{model.name}"), unique_id="test-aws-calls"
        )

    monkeypatch.setattr(botocore.client.BaseClient, "__init__", recording_init)
    from chalicelib import aws_clients

    aws_clients.reset()  # clients made from now on carry the hook
    return calls


def test_an_unknown_address_makes_the_same_aws_calls_as_a_known_one(
    new_browser: Any, partner: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    known_browser, unknown_browser = new_browser(), new_browser()
    calls = aws_calls_of(monkeypatch)
    per_attempt: dict[str, list[list[str]]] = {"known": [], "unknown": []}
    # Two attempts each: the third, which locks a real account, also ends its sessions (as for user names).
    for _ in range(2):
        for kind, browser, address in (
            ("known", known_browser, partner.email.title()),
            ("unknown", unknown_browser, "Nobody.Here@Clinic.Example"),
        ):
            calls.clear()
            reply = browser.post("/api/session", json_body={"username": address, "password": WRONG})
            assert reply.status == 401
            per_attempt[kind].append([c for c in calls if c.startswith(("dynamodb:", "s3:", "kms:"))])
    assert per_attempt["known"] == per_attempt["unknown"]
    # The source budget, the address's claim, the account, the counter (the account's or the guard's), the audit.
    assert [c for c in per_attempt["known"][0] if c != "kms:GenerateDataKey"] == [
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:PutObject",
    ], per_attempt["known"][0]


def test_thread_scope_keeps_user_names(
    monkeypatch: pytest.MonkeyPatch, stack: Any, associate: Account, make_partner: Any, new_browser: Any
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    partner = make_partner()
    assert stack.services().settings.credential_scope == "thread"
    assert new_browser().sign_in(partner.username, PARTNER_PASSWORD).status == 200
    # The address is no name here: it answers like an unknown user name and leaves the account's counter alone.
    by_address = attempts(new_browser(), partner.email, PARTNER_PASSWORD, 3)
    unknown = attempts(new_browser(), "nobody-123456", PARTNER_PASSWORD, 3)
    assert [shape(r) for r in by_address] == [shape(r) for r in unknown]
    assert by_address[-1].json["error"] == "account_locked"
    assert stack.services().accounts.get(partner.username).failed_attempts == 0
    # Associates' user names are their addresses, and still sign in.
    assert new_browser().sign_in(associate.username.upper(), DEMO_PASSWORD).status == 200
