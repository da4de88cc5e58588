"""Audit records for every sign-in and account event: complete, free of secrets, fail-closed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import time_machine

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME
from chalicelib.audit.records import RECORD_COLUMNS, SHARDS, Actor, AuditEvent, AuditLog, RequestInfo
from tests.conftest import PARTNER_PASSWORD
from tests.support import DEMO_PASSWORD, WebClient, audit_objects, audit_records, link_in, sent_mail

NEW_PASSWORD = "another long passphrase to use"


def events(stack: Any) -> list[str]:
    return [r["event"] for r in audit_records(stack.client("s3"), stack.audit_bucket)]


def test_records_have_every_field_and_the_request_context(associate_web: WebClient, stack: Any) -> None:
    # The fixture's sign-in (its second factor's enrolment beside it).
    (record,) = [r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r["event"] == "signin.succeeded"]
    assert list(record) == sorted(name for name, _ in RECORD_COLUMNS)
    assert record["actor"] == "alice@plan.example" and record["actor_role"] == "associate"
    assert record["outcome"] == "success"
    assert record["time"].endswith("Z")
    assert record["request_id"] and record["source_ip"] == "127.0.0.1"
    assert record["user_agent"] == "pytest-browser/1.0"


def test_records_are_partitioned_by_date_and_hour_and_spread_over_shards(stack: Any) -> None:
    log = AuditLog(stack.audit_bucket, stack.env["SEALPOST_KMS_KEY_ARN"], lambda: stack.client("s3"))
    with time_machine.travel("2026-03-04 05:06:07Z", tick=False):
        for _ in range(40):
            log.record(AuditEvent.ACCESS_DENIED, actor=Actor.anonymous(), request=RequestInfo("r"))
    keys = [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=stack.audit_bucket)["Contents"]]
    assert all(k.startswith("records/dt=2026-03-04/hour=05/shard=") for k in keys)
    shards = {k.split("/")[3] for k in keys}
    assert 4 <= len(shards) <= SHARDS


def test_every_account_event_of_a_full_lifecycle_is_recorded(
    associate_web: WebClient, new_browser: Any, stack: Any
) -> None:
    # Create, register, fail twice, lock, unlock, sign in, change password, revoke all,
    # sign in again, sign out, expire, be denied, be terminated.
    created = associate_web.post("/api/accounts", json_body={"email": "life@clinic.example"}).json["account"]
    username = created["username"]
    token = link_in(sent_mail()[-1], "/register/").rsplit("/", 1)[1]
    partner = new_browser()
    assert partner.post("/api/register", json_body={"token": token, "password": PARTNER_PASSWORD}).status == 201
    for _ in range(3):
        new_browser().post("/api/session", json_body={"username": username, "password": "wrong guess here"})
    associate_web.post(f"/api/accounts/{username}/unlock")
    partner = new_browser()
    partner.sign_in(username, PARTNER_PASSWORD)
    partner.post("/api/accounts", json_body={"email": "nope@clinic.example"})
    reply = partner.post(
        "/api/password", json_body={"current_password": PARTNER_PASSWORD, "new_password": NEW_PASSWORD}
    )
    partner.csrf_token = reply.json["csrf_token"]
    partner.post("/api/session/revoke-all")
    partner.sign_in(username, NEW_PASSWORD)
    partner.request("DELETE", "/api/session")
    idle = new_browser()
    idle.sign_in(username, NEW_PASSWORD)
    with time_machine.travel(time.time() + 16 * 60, tick=False):
        assert idle.get("/api/session").status == 401
    associate_web.post(f"/api/accounts/{username}/terminate")

    recorded = events(stack)
    for expected in (
        "account.created",
        "password.set",
        "signin.failed",
        "account.locked",
        "account.unlocked",
        "signin.succeeded",
        "access.denied",
        "password.changed",
        "session.revoked_all",
        "session.signed_out",
        "session.expired",
        "account.terminated",
    ):
        assert expected in recorded, expected
    assert recorded.count("account.locked") == 1


def test_no_record_holds_a_password_token_or_cookie(associate_web: WebClient, new_browser: Any, stack: Any) -> None:
    created = associate_web.post("/api/accounts", json_body={"email": "scan@clinic.example"}).json["account"]
    invitation_token = link_in(sent_mail()[-1], "/register/").rsplit("/", 1)[1]
    partner = new_browser()
    partner.post("/api/register", json_body={"token": invitation_token, "password": PARTNER_PASSWORD})
    typo = "a password typed as the user name"
    new_browser().post("/api/session", json_body={"username": "my-secret-typo", "password": typo})
    new_browser().post("/api/session", json_body={"username": created["username"], "password": "wrong guess here"})
    partner.sign_in(created["username"], PARTNER_PASSWORD)
    secrets = [
        PARTNER_PASSWORD,
        DEMO_PASSWORD,
        typo,
        "wrong guess here",
        "my-secret-typo",
        invitation_token,
        partner.cookies[COOKIE_NAME],
        associate_web.cookies[COOKIE_NAME],
        partner.csrf_token,
        associate_web.csrf_token,
    ]
    blobs = audit_objects(stack.client("s3"), stack.audit_bucket)
    assert len(blobs) >= 6
    for blob in blobs:
        text = blob.decode()
        json.loads(text)
        for secret in secrets:
            assert secret not in text


def test_a_detail_key_that_could_hold_a_secret_is_refused_by_the_writer(stack: Any) -> None:
    log = AuditLog(stack.audit_bucket, stack.env["SEALPOST_KMS_KEY_ARN"], lambda: stack.client("s3"))
    with pytest.raises(ValueError, match="could hold a secret"):
        log.record(
            AuditEvent.ACCESS_DENIED, actor=Actor.anonymous(), request=RequestInfo("r"), detail={"password": "x"}
        )


# --- fail closed ----------------------------------------------------------------------


@pytest.fixture
def audit_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the audit writer at a bucket that does not exist: every write fails."""
    return lambda: monkeypatch.setenv("SEALPOST_AUDIT_BUCKET", "no-such-audit-bucket")


def test_sign_in_fails_and_no_session_exists_when_audit_is_down(
    new_browser: Any, partner: Account, stack: Any, audit_down: Any
) -> None:
    sessions_table = stack.env["SEALPOST_SESSIONS_TABLE"]
    sessions_before = stack.client("dynamodb").scan(TableName=sessions_table)["Count"]
    browser = new_browser()
    # The password step starts only a pending session; the sign-in is the second factor's step.
    first = browser.post("/api/session", json_body={"username": partner.username, "password": PARTNER_PASSWORD})
    assert first.status == 200 and first.json["second_factor_required"]
    audit_down()
    reply = browser.second_factor(first, partner.username)
    assert reply.status == 503
    assert reply.json["error"] == "audit_unavailable"
    assert reply.header("retry-after")
    # Only the pending session of the password step exists, and it signs nobody in.
    assert stack.client("dynamodb").scan(TableName=sessions_table)["Count"] == sessions_before + 1
    assert browser.get("/api/session").status == 401


def test_account_creation_fails_and_leaves_nothing_when_audit_is_down(
    associate_web: WebClient, stack: Any, audit_down: Any
) -> None:
    mails_before = len(sent_mail())
    audit_down()
    reply = associate_web.post("/api/accounts", json_body={"email": "ghost@clinic.example"})
    assert reply.status == 503
    assert stack.services().accounts.username_for_email("ghost@clinic.example") is None
    assert len(sent_mail()) == mails_before
    items = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_TOKENS_TABLE"])["Items"]
    assert items == []


def test_unlock_and_terminate_change_nothing_when_audit_is_down(
    associate_web: WebClient, new_browser: Any, partner: Account, stack: Any, audit_down: Any
) -> None:
    for _ in range(3):
        new_browser().post("/api/session", json_body={"username": partner.username, "password": "wrong guess here"})
    audit_down()
    assert associate_web.post(f"/api/accounts/{partner.username}/unlock").status == 503
    assert associate_web.post(f"/api/accounts/{partner.username}/terminate").status == 503
    account = stack.services().accounts.get(partner.username)
    assert account.failed_attempts == 3 and str(account.status) == "active"


def test_password_change_changes_nothing_when_audit_is_down(
    new_browser: Any, partner: Account, stack: Any, audit_down: Any
) -> None:
    browser = new_browser()
    browser.sign_in(partner.username, PARTNER_PASSWORD)
    audit_down()
    reply = browser.post(
        "/api/password", json_body={"current_password": PARTNER_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert reply.status == 503
    stored = stack.services().accounts.get(partner.username)
    assert stored.password_hash == partner.password_hash


def test_failed_sign_ins_still_count_when_audit_is_down(
    new_browser: Any, partner: Account, stack: Any, audit_down: Any
) -> None:
    # An attacker must not get free guesses by breaking the audit trail.
    audit_down()
    for _ in range(3):
        assert (
            new_browser()
            .post("/api/session", json_body={"username": partner.username, "password": "wrong guess here"})
            .status
            == 503
        )
    assert stack.services().accounts.get(partner.username).failed_attempts == 3


def test_every_event_type_is_a_unique_dotted_lower_case_name() -> None:
    names = [str(event) for event in AuditEvent]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", name) for name in names), names
