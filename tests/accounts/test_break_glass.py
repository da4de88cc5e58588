"""Break-glass accounts (emergency access): a generated passphrase printed once, a sign-in audited on
its own (fail closed), a passphrase that mail and the portal cannot replace, and rotation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.accounts.break_glass import PASSPHRASE_ALPHABET, generate_passphrase
from chalicelib.accounts.model import Status
from chalicelib.accounts.passwords import check_new_password
from chalicelib.accounts.sessions import COOKIE_NAME
from chalicelib.audit.records import AuditEvent, AuditLog
from chalicelib.errors import AuditUnavailable
from tests.conftest import CliRun
from tests.support import DEMO_PASSWORD, audit_events, audit_objects, audit_records, printed_passphrase, sent_mail

GLASS = "break-glass@plan.example"


@pytest.fixture
def glass(admin_cli: Callable[..., CliRun]) -> str:
    """A break-glass account; returns its passphrase."""
    return printed_passphrase(admin_cli("break-glass", "create", GLASS))


def test_generated_passphrases_meet_the_password_rules_and_never_repeat() -> None:
    made = [generate_passphrase((GLASS,)) for _ in range(50)]
    assert len(set(made)) == 50
    for passphrase in made:
        assert check_new_password(passphrase, context=(GLASS,)) == passphrase
        groups = passphrase.split("-")
        assert len(groups) == 6 and all(len(g) == 5 and set(g) <= set(PASSPHRASE_ALPHABET) for g in groups)
    assert not set("0o1li") & set(PASSPHRASE_ALPHABET)


def test_create_makes_an_active_flagged_associate_and_prints_its_passphrase_once(
    admin_cli: Callable[..., CliRun], stack: Any
) -> None:
    run = admin_cli("break-glass", "create", GLASS, "--name", "Emergency access")
    passphrase = printed_passphrase(run)
    assert "sealpost-audit search --event signin.break_glass" in run.out
    account = stack.services().accounts.require(GLASS)
    assert (account.status, account.break_glass, account.created_by) == (Status.ACTIVE, True, "sealpost-admin")
    assert account.display_name == "Emergency access"
    assert account.public_view(3)["break_glass"] is True
    assert account.administrator and account.is_administrator  # it manages things when the provider is down
    assert account.password_hash and passphrase not in account.password_hash
    (created,) = audit_events(stack, "account.created")
    assert created["detail"]["break_glass"] == "True" and created["actor"] == "sealpost-admin"
    assert created["detail"]["administrator"] == "True"
    assert sent_mail() == []  # nothing is mailed: the passphrase is the only way in
    assert admin_cli("break-glass", "create", "eve@clinic.example").code == 1


def test_a_break_glass_sign_in_is_audited_on_its_own_besides_the_ordinary_one(
    glass: str, associate: Any, new_browser: Any, stack: Any
) -> None:
    def new_events(action: Callable[[], Any]) -> tuple[Any, list[dict[str, Any]]]:
        before = audit_records(stack.client("s3"), stack.audit_bucket)
        result = action()
        return result, [r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r not in before]

    reply, records = new_events(lambda: new_browser().sign_in(GLASS, glass))
    assert reply.status == 200 and reply.json["username"] == GLASS
    assert Counter(r["event"] for r in records) == Counter(["signin.succeeded", "signin.break_glass"])
    (emergency,) = [r for r in records if r["event"] == "signin.break_glass"]
    assert (emergency["actor"], emergency["actor_role"], emergency["account"], emergency["reason"]) == (
        GLASS,
        "associate",
        GLASS,
        "emergency_access",
    )
    assert emergency["user_agent"] == "pytest-browser/1.0" and emergency["request_id"]
    # An ordinary associate's sign-in has no such record (the first one set up the TOTP app: MfaPolicy=required).
    assert new_browser().sign_in(associate.username, DEMO_PASSWORD).status == 200
    _, ordinary = new_events(lambda: new_browser().sign_in(associate.username, DEMO_PASSWORD))
    assert [r["event"] for r in ordinary] == ["signin.succeeded"]
    for blob in audit_objects(stack.client("s3"), stack.audit_bucket):
        assert glass.encode() not in blob


def test_no_session_starts_when_the_break_glass_record_cannot_be_written(
    glass: str, new_browser: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = AuditLog.record

    def failing(self: AuditLog, event: AuditEvent, **kwargs: Any) -> Any:
        if event is AuditEvent.BREAK_GLASS_SIGNIN:
            raise AuditUnavailable()
        return real(self, event, **kwargs)

    monkeypatch.setattr(AuditLog, "record", failing)
    sessions = stack.env["SEALPOST_SESSIONS_TABLE"]
    browser = new_browser()
    reply = browser.sign_in(GLASS, glass)
    assert reply.status == 503 and reply.json["error"] == "audit_unavailable"
    assert COOKIE_NAME not in browser.cookies
    assert stack.client("dynamodb").scan(TableName=sessions)["Count"] == 0


def test_the_passphrase_is_neither_reset_by_mail_nor_changed_in_the_portal(
    glass: str, new_browser: Any, stack: Any, deliver_account_mail: Any
) -> None:
    forgot = new_browser().post("/api/password/forgot", json_body={"identifier": GLASS})
    assert forgot.status == 202
    deliver_account_mail()  # the worker behind the queue refuses it
    assert sent_mail() == []
    (request,) = audit_events(stack, "password.reset_requested")
    assert (request["outcome"], request["reason"]) == ("failure", "break_glass")

    browser = new_browser()
    assert browser.sign_in(GLASS, glass).status == 200
    change = browser.post("/api/password", json_body={"current_password": glass, "new_password": DEMO_PASSWORD})
    assert change.status == 403 and change.json["error"] == "access_denied"
    (denied,) = audit_events(stack, "access.denied")
    assert (denied["account"], denied["reason"], denied["detail"]) == (
        GLASS,
        "break_glass",
        {"action": "change_password"},
    )
    assert audit_events(stack, "password.changed") == []
    assert new_browser().sign_in(GLASS, glass).status == 200


def test_rotate_replaces_the_passphrase_ends_every_session_and_lifts_a_lock(
    glass: str, admin_cli: Callable[..., CliRun], new_browser: Any, stack: Any
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in(GLASS, glass).status == 200
    for _ in range(3):
        new_browser().sign_in(GLASS, "a wrong guess at the passphrase")
    assert new_browser().sign_in(GLASS, glass).json["error"] == "account_locked"

    run = admin_cli("break-glass", "rotate", GLASS)
    fresh = printed_passphrase(run)
    assert fresh != glass and "the old one no longer works" in run.out
    assert signed_in.get("/api/session").status == 401
    assert new_browser().sign_in(GLASS, glass).status == 401
    assert new_browser().sign_in(GLASS, fresh).status == 200
    (rotated,) = audit_events(stack, "password.changed")
    assert (rotated["actor"], rotated["account"], rotated["reason"]) == ("sealpost-admin", GLASS, "break_glass_rotated")
    for blob in audit_objects(stack.client("s3"), stack.audit_bucket):
        assert glass.encode() not in blob and fresh.encode() not in blob


def test_only_an_active_break_glass_account_is_rotated(
    glass: str, admin_cli: Callable[..., CliRun], associate: Any, stack: Any
) -> None:
    ordinary = admin_cli("break-glass", "rotate", associate.username)
    assert ordinary.code == 1 and "not a break-glass account" in ordinary.err
    assert admin_cli("disable", GLASS).code == 0
    disabled = admin_cli("break-glass", "rotate", GLASS)
    assert disabled.code == 1 and "create a new break-glass account" in disabled.err
    assert audit_events(stack, "password.changed") == []
