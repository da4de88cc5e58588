"""Associates sign in through the plan's OpenID provider (chalicelib/identity): a password only when
``AssociatePasswordSignIn`` is on (local mode; never in the prod stage) and for the break-glass
account. An associate's password otherwise gets the wrong-password answer, warning and lock included,
counted on the name's guard so that it cannot lock the associate out of the provider's sign-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings
from chalicelib.wiring import services as services_module
from tests.conftest import CliRun, Stack
from tests.support import DEMO_PASSWORD, SETTINGS_ENV, audit_events, printed_passphrase


@pytest.fixture
def password_signin_off(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("SEALPOST_ASSOCIATE_PASSWORD_SIGNIN", "false")  # the deployed default
    services_module.reset()
    return stack


def test_prod_refuses_associate_password_signin() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({**SETTINGS_ENV, "SEALPOST_STAGE": "prod", "SEALPOST_ASSOCIATE_PASSWORD_SIGNIN": "true"})
    assert "SEALPOST_ASSOCIATE_PASSWORD_SIGNIN" in str(refused.value)
    assert not Settings.from_env({**SETTINGS_ENV, "SEALPOST_STAGE": "prod"}).associate_password_signin
    dev = Settings.from_env({**SETTINGS_ENV, "SEALPOST_STAGE": "dev", "SEALPOST_ASSOCIATE_PASSWORD_SIGNIN": "true"})
    assert dev.associate_password_signin and not Settings.from_env(SETTINGS_ENV).associate_password_signin


def test_the_template_keeps_associate_passwords_off_by_default() -> None:
    from devtools.provision import load_template

    assert load_template()["Parameters"]["AssociatePasswordSignIn"]["Default"] == "false"


def test_an_associates_right_password_gets_the_wrong_password_answer(
    password_signin_off: Stack, web: Any, associate: Any
) -> None:
    first = web.post("/api/session", json_body={"username": associate.username, "password": DEMO_PASSWORD})
    wrong = web.post("/api/session", json_body={"username": associate.username, "password": "not the password"})
    assert first.status == wrong.status == 401
    assert first.json["error"] == wrong.json["error"] == "invalid_credentials"
    assert first.json["warning"] is None and wrong.json["warning"]  # the second failure warns, as always
    third = web.post("/api/session", json_body={"username": associate.username, "password": DEMO_PASSWORD})
    assert third.json["error"] == "account_locked"  # the same lock answer as for any name
    reasons = [r["reason"] for r in audit_events(password_signin_off, "signin.failed")]
    assert reasons == ["password_signin_off"] * 3
    # Counted on the guard, not the account: the associate is not locked out of the provider.
    account = password_signin_off.services().accounts.require(associate.username)
    assert account.failed_attempts == 0 and not account.is_locked(3)
    assert audit_events(password_signin_off, "account.locked") == []


def test_break_glass_still_signs_in_with_its_passphrase(
    password_signin_off: Stack, web: Any, admin_cli: Callable[..., CliRun]
) -> None:
    passphrase = printed_passphrase(admin_cli("break-glass", "create", "break-glass@plan.example"))
    services_module.reset()
    reply = web.post("/api/session", json_body={"username": "break-glass@plan.example", "password": passphrase})
    assert reply.status == 200, reply.text
    assert audit_events(password_signin_off, "signin.break_glass")
    assert audit_events(password_signin_off, "signin.succeeded")[-1]["detail"]["method"] == "password"
