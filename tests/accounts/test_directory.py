"""The plan's own accounts as an operator manages them (``sealpost-admin``, run in-process against the
stack through ``--env-file``): the first associate registers from a single-use link, outside
addresses are refused, disable ends every session, enable starts over without the old password,
and a failed audit write changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.accounts.directory import Operator
from chalicelib.accounts.model import Role, Status
from chalicelib.accounts.sessions import COOKIE_NAME
from devtools.seed import seed_associate
from tests.conftest import CliRun
from tests.support import DEMO_PASSWORD, PORTAL_URL, audit_events, audit_objects, audit_records, mail_text, sent_mail

NEW_PASSWORD = "first administrator chooses this"
LINK = re.compile(re.escape(PORTAL_URL) + r"/register/([A-Za-z0-9_-]{43})$", re.MULTILINE)


def printed_token(run: CliRun) -> str:
    assert run.code == 0, run.err
    found = LINK.findall(run.out)
    assert len(found) == 1, run.out
    return str(found[0])


def register_page(web: Any, token: str, password: str = NEW_PASSWORD) -> Any:
    path = f"/register/{token}"
    return web.submit(path, path, {"password": password, "password_confirmation": password})


def api_register(web: Any, token: str) -> Any:
    return web.post("/api/register", json_body={"token": token, "password": NEW_PASSWORD})


# --- create-associate ---------------------------------------------------------------------


def test_the_first_associate_registers_through_the_printed_link(
    admin_cli: Callable[..., CliRun], web: Any, new_browser: Any, stack: Any
) -> None:
    run = admin_cli("create-associate", "Bo.Admin@Plan.Example", "--name", "Bo Admin", "--print-link")
    token = printed_token(run)
    assert "Created associate account bo.admin@plan.example (invited)" in run.out
    assert sent_mail() == []  # printed instead of mailed
    account = stack.services().accounts.get("bo.admin@plan.example")
    assert account is not None
    assert (account.role, account.status, account.password_hash) == (Role.ASSOCIATE, Status.INVITED, None)
    assert (account.display_name, account.created_by, account.break_glass) == ("Bo Admin", "sealpost-admin", False)

    page = web.get(f"/register/{token}")
    assert page.status == 200 and "bo.admin@plan.example" in page.text
    registered = web.through_second_factor(register_page(web, token), "bo.admin@plan.example")
    assert registered.status == 303 and registered.header("location").startswith("/home")
    me = web.get("/api/session")
    assert me.status == 200 and (me.json["username"], me.json["role"]) == ("bo.admin@plan.example", "associate")
    assert stack.services().accounts.require("bo.admin@plan.example").status is Status.ACTIVE
    assert new_browser().get(f"/register/{token}").status == 410  # single use

    (created,) = audit_events(stack, "account.created")
    assert (created["actor"], created["actor_role"], created["account"]) == (
        "sealpost-admin",
        "operator",
        "bo.admin@plan.example",
    )
    assert created["detail"]["role"] == "associate" and created["detail"]["invitation"] == "printed"
    assert created["detail"]["operator"]
    assert [r["reason"] for r in audit_events(stack, "password.set")] == ["registration_invitation"]
    assert not [blob for blob in audit_objects(stack.client("s3"), stack.audit_bucket) if token.encode() in blob]


def test_without_print_link_the_invitation_is_mailed_and_not_printed(
    admin_cli: Callable[..., CliRun], stack: Any
) -> None:
    run = admin_cli("create-associate", "cy@plan.example")
    assert run.code == 0, run.err
    assert "mailed to cy@plan.example" in run.out and "/register/" not in run.out
    (mail,) = sent_mail()
    assert mail["To"].addresses[0].addr_spec == "cy@plan.example"
    text = mail_text(mail)
    assert "The administrator of" in text and "cy@plan.example" in text
    assert re.search(re.escape(PORTAL_URL) + r"/register/[A-Za-z0-9_-]{43}", text)
    assert audit_events(stack, "account.created")[0]["detail"]["invitation"] == "mailed"


def test_an_invitation_that_cannot_be_mailed_leaves_the_account_and_says_how_to_invite_again(
    admin_cli: Callable[..., CliRun], stack: Any
) -> None:
    run = admin_cli(
        "create-associate", "di@plan.example", changed={"SEALPOST_MAIL_FROM": "no-reply@unverified.example"}
    )
    assert run.code == 1
    assert "could not be sent" in run.err and "invite di@plan.example" in run.err
    assert stack.services().accounts.get("di@plan.example") is not None
    assert printed_token(admin_cli("invite", "di@plan.example", "--print-link"))


@pytest.mark.parametrize("address", ["eve@clinic.example", "eve@plan.example.evil.example", "not an address"])
def test_an_address_outside_the_plan_is_refused_and_nothing_is_made(
    admin_cli: Callable[..., CliRun], stack: Any, address: str
) -> None:
    run = admin_cli("create-associate", address, "--print-link")
    assert run.code == 1 and run.out == ""
    assert "not on the plan's own domains" in run.err or "not a valid mail address" in run.err
    assert "Traceback" not in run.err
    assert stack.services().directory.listing() == []
    assert audit_records(stack.client("s3"), stack.audit_bucket) == []


def test_an_address_that_has_an_account_is_refused(
    admin_cli: Callable[..., CliRun], associate: Any, stack: Any
) -> None:
    run = admin_cli("create-associate", "ALICE@plan.example", "--print-link")
    assert run.code == 1 and "already exists" in run.err
    assert audit_events(stack, "account.created") == []
    assert stack.services().accounts.require("alice@plan.example").created_by == "seed"  # untouched


def test_a_failed_audit_write_creates_nothing(admin_cli: Callable[..., CliRun], stack: Any) -> None:
    down = {"SEALPOST_AUDIT_BUCKET": "no-such-audit-bucket"}
    for args in (("create-associate", "ghost@plan.example"), ("break-glass", "create", "glass@plan.example")):
        run = admin_cli(*args, changed=down)
        assert run.code == 2 and "could not be recorded" in run.err, run.err
        assert run.out == ""
    assert stack.services().directory.listing() == []
    tokens = stack.client("dynamodb").scan(TableName=stack.env["SEALPOST_TOKENS_TABLE"])["Items"]
    assert tokens == [] and sent_mail() == []


# --- invite -------------------------------------------------------------------------------


def test_invite_gives_a_registered_nothing_and_an_invited_associate_a_new_link(
    admin_cli: Callable[..., CliRun], web: Any, stack: Any
) -> None:
    first = printed_token(admin_cli("create-associate", "ed@plan.example", "--print-link"))
    again = admin_cli("invite", "ed@plan.example", "--print-link")
    second = printed_token(again)
    assert second != first
    assert [r["reason"] for r in audit_events(stack, "account.created")] == [None, "invitation_resent"]
    assert register_page(web, second).status == 303
    refused = admin_cli("invite", "ed@plan.example")
    assert refused.code == 1 and "active" in refused.err
    assert len(audit_events(stack, "account.created")) == 2


def test_resending_an_invitation_invalidates_the_earlier_link(
    admin_cli: Callable[..., CliRun], new_browser: Any, stack: Any
) -> None:
    first = printed_token(admin_cli("create-associate", "gil@plan.example", "--print-link"))
    assert new_browser().get(f"/register/{first}").status == 200
    second = printed_token(admin_cli("invite", "gil@plan.example", "--print-link"))
    # The earlier link is refused before anyone registers: only the newest invitation counts.
    assert new_browser().get(f"/register/{first}").status == 410
    assert api_register(new_browser(), first).status == 410
    assert stack.services().accounts.require("gil@plan.example").status is Status.INVITED
    third = printed_token(admin_cli("invite", "gil@plan.example", "--print-link"))
    assert api_register(new_browser(), second).status == 410
    assert register_page(new_browser(), third).status == 303
    assert stack.services().accounts.require("gil@plan.example").status is Status.ACTIVE


def test_enabling_again_invalidates_an_unused_earlier_invitation(
    admin_cli: Callable[..., CliRun], new_browser: Any
) -> None:
    unused = printed_token(admin_cli("create-associate", "hal@plan.example", "--print-link"))
    assert admin_cli("disable", "hal@plan.example").code == 0
    fresh = printed_token(admin_cli("enable", "hal@plan.example", "--print-link"))
    assert new_browser().get(f"/register/{unused}").status == 410
    assert register_page(new_browser(), fresh).status == 303


# --- list ---------------------------------------------------------------------------------


def rows(run: CliRun) -> dict[str, list[str]]:
    assert run.code == 0, run.err
    header, *lines = run.out.splitlines()
    assert header.split() == [
        "USERNAME",
        "EMAIL",
        "ROLE",
        "STATUS",
        "LOCKED",
        "CREATED_AT",
        "CREATED_BY",
        "BREAK_GLASS",
        "ADMINISTRATOR",
    ]
    return {line.split()[0]: line.split() for line in lines}


def test_list_shows_each_account_with_role_status_lock_creator_and_break_glass_flag(
    admin_cli: Callable[..., CliRun], associate: Any, partner: Any, new_browser: Any
) -> None:
    admin_cli("create-associate", "fay@plan.example", "--print-link")
    assert admin_cli("break-glass", "create", "glass@plan.example").code == 0
    for _ in range(3):
        new_browser().sign_in("fay@plan.example", "wrong guess for fay")  # no password yet: counts all the same

    table = rows(admin_cli("list"))
    assert set(table) == {"alice@plan.example", "fay@plan.example", "glass@plan.example", partner.username}
    _, _, role, status, locked, created, by, glass, administrator = table["alice@plan.example"]
    assert (role, status, locked, by, glass, administrator) == ("associate", "active", "no", "seed", "no", "no")
    assert re.match(r"^\d{4}-\d\d-\d\dT", created)
    assert table["fay@plan.example"][2:5] == ["associate", "invited", "yes"]
    assert table["fay@plan.example"][6:] == ["sealpost-admin", "no", "no"]
    assert table["glass@plan.example"][3] == "active" and table["glass@plan.example"][-2:] == ["yes", "yes"]
    assert table[partner.username][1:4] == ["bob@clinic.example", "partner", "active"]
    assert table[partner.username][6] == "alice@plan.example"

    assert set(rows(admin_cli("list", "--role", "partner"))) == {partner.username}
    assert set(rows(admin_cli("list", "--role", "associate", "--status", "invited"))) == {"fay@plan.example"}
    assert admin_cli("list", "--status", "terminated").out == "No accounts.\n"


# --- unlock, disable, enable --------------------------------------------------------------


def test_unlock_lifts_the_lock_of_an_associate(
    admin_cli: Callable[..., CliRun], associate: Any, new_browser: Any, stack: Any
) -> None:
    assert admin_cli("unlock", "alice@plan.example").code == 1  # not locked
    for _ in range(3):
        new_browser().sign_in("alice@plan.example", "wrong guess for alice")
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).json["error"] == "account_locked"
    run = admin_cli("unlock", "alice@plan.example")
    assert run.code == 0 and "Unlocked alice@plan.example" in run.out
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).status == 200
    (unlocked,) = audit_events(stack, "account.unlocked")
    assert (unlocked["actor"], unlocked["reason"]) == ("sealpost-admin", "operator_request")


def test_a_session_from_before_the_lock_stays_dead_after_sealpost_admin_unlock(
    admin_cli: Callable[..., CliRun], associate: Any, new_browser: Any
) -> None:
    signed_in = new_browser()
    assert signed_in.sign_in("alice@plan.example", DEMO_PASSWORD).status == 200
    for _ in range(3):
        new_browser().sign_in("alice@plan.example", "wrong guess for alice")
    assert admin_cli("unlock", "alice@plan.example").code == 0
    assert signed_in.get("/api/session").status == 401
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).status == 200


def test_disable_ends_every_session_of_an_associate_and_every_sign_in(
    admin_cli: Callable[..., CliRun], associate: Any, new_browser: Any, stack: Any
) -> None:
    browsers = [new_browser(), new_browser()]
    for browser in browsers:
        assert browser.sign_in("alice@plan.example", DEMO_PASSWORD).status == 200
        assert browser.get("/api/session").status == 200
    run = admin_cli("disable", "alice@plan.example")
    assert run.code == 0 and "every session of it has ended" in run.out
    for browser in browsers:
        assert COOKIE_NAME in browser.cookies
        assert browser.get("/api/session").status == 401
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).json["error"] == "account_closed"
    (terminated,) = audit_events(stack, "account.terminated")
    assert (terminated["actor"], terminated["account"], terminated["reason"]) == (
        "sealpost-admin",
        "alice@plan.example",
        "operator_request",
    )
    assert terminated["detail"]["role"] == "associate"
    again = admin_cli("disable", "alice@plan.example")
    assert again.code == 1 and "already disabled" in again.err
    assert admin_cli("disable", "nobody@plan.example").code == 1


def test_enable_invites_a_disabled_associate_again_and_the_old_password_is_gone(
    admin_cli: Callable[..., CliRun], associate: Any, new_browser: Any, stack: Any
) -> None:
    assert admin_cli("enable", "alice@plan.example").code == 1  # not disabled
    assert admin_cli("disable", "alice@plan.example").code == 0
    run = admin_cli("enable", "alice@plan.example", "--print-link")
    token = printed_token(run)
    account = stack.services().accounts.require("alice@plan.example")
    assert (account.status, account.password_hash) == (Status.INVITED, None)
    assert new_browser().sign_in("alice@plan.example", DEMO_PASSWORD).status != 200
    assert register_page(new_browser(), token).status == 303
    assert new_browser().sign_in("alice@plan.example", NEW_PASSWORD).status == 200
    (enabled,) = audit_events(stack, "account.reenabled")
    assert (enabled["actor"], enabled["account"], enabled["detail"]["invitation"]) == (
        "sealpost-admin",
        "alice@plan.example",
        "printed",
    )


def test_partner_and_break_glass_accounts_are_not_enabled_again(
    admin_cli: Callable[..., CliRun], partner: Any, stack: Any
) -> None:
    assert admin_cli("disable", partner.username).code == 0
    refused = admin_cli("enable", partner.username)
    assert refused.code == 1 and "business-partner account" in refused.err
    assert admin_cli("break-glass", "create", "glass@plan.example").code == 0
    assert admin_cli("disable", "glass@plan.example").code == 0
    refused = admin_cli("enable", "glass@plan.example")
    assert refused.code == 1 and "break-glass" in refused.err
    assert audit_events(stack, "account.reenabled") == []
    assert stack.services().accounts.require(partner.username).status is Status.TERMINATED


# --- the operator -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "identity"),
    [
        ("jane.doe@plan.example", "jane.doe@plan.example"),
        ("ops user\n", "ops_user"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_the_operators_identity_is_kept_to_iam_name_characters(raw: str | None, identity: str) -> None:
    operator = Operator.named(raw)
    assert operator.identity == identity
    assert operator.detail() == {"operator": identity}
    assert operator.actor.id == "sealpost-admin" and operator.request.request_id.startswith("sealpost-admin-")


# --- administrators -----------------------------------------------------------------------


def test_create_associate_with_administrator_makes_the_first_administrator(
    admin_cli: Callable[..., CliRun], web: Any, stack: Any
) -> None:
    run = admin_cli("create-associate", "bo@plan.example", "--administrator", "--print-link")
    token = printed_token(run)
    assert "Created associate account bo@plan.example (an administrator, invited)" in run.out
    account = stack.services().accounts.require("bo@plan.example")
    assert account.administrator and not account.is_administrator  # invited: not until registered
    assert audit_events(stack, "account.created")[0]["detail"]["administrator"] == "True"
    assert web.through_second_factor(register_page(web, token), "bo@plan.example").status == 303
    assert 'href="/associates"' in web.get("/home").text
    assert web.get("/api/associates").status == 200


def test_grant_and_revoke_admin_are_audited_and_the_last_administrator_stays(
    admin_cli: Callable[..., CliRun], associate: Any, stack: Any
) -> None:
    granted = admin_cli("grant-admin", "Alice@plan.example")
    assert granted.code == 0 and "alice@plan.example is an administrator now" in granted.out
    assert "decides again" not in granted.out  # no provider admin group here
    assert rows(admin_cli("list"))["alice@plan.example"][-1] == "yes"
    again = admin_cli("grant-admin", "alice@plan.example")
    assert again.code == 1 and "already an administrator" in again.err
    last = admin_cli("revoke-admin", "alice@plan.example")
    assert last.code == 1 and "last active administrator" in last.err
    assert stack.services().accounts.require("alice@plan.example").administrator

    seed_associate(stack.services(), "cy@plan.example", DEMO_PASSWORD)
    assert admin_cli("grant-admin", "cy@plan.example").code == 0
    revoked = admin_cli("revoke-admin", "alice@plan.example")
    assert revoked.code == 0 and "no longer an administrator" in revoked.out
    assert not stack.services().accounts.require("alice@plan.example").administrator
    changes = audit_events(stack, "account.role_changed")
    assert [(r["account"], r["detail"]["administrator"]) for r in changes] == [
        ("alice@plan.example", "True"),
        ("cy@plan.example", "True"),
        ("alice@plan.example", "False"),
    ]
    assert {(r["actor"], r["actor_role"], r["reason"]) for r in changes} == {
        ("sealpost-admin", "operator", "operator_request")
    }
    assert all(r["detail"]["operator"] for r in changes)


def test_grant_admin_refuses_partners_break_glass_and_disabled_associates(
    admin_cli: Callable[..., CliRun], associate: Any, partner: Any, stack: Any
) -> None:
    assert "business-partner account" in admin_cli("grant-admin", partner.username).err
    assert admin_cli("break-glass", "create", "glass@plan.example").code == 0
    assert "break-glass" in admin_cli("revoke-admin", "glass@plan.example").err
    assert admin_cli("disable", "alice@plan.example").code == 0
    refused = admin_cli("grant-admin", "alice@plan.example")
    assert refused.code == 1 and "disabled" in refused.err
    assert audit_events(stack, "account.role_changed") == []


def test_grant_admin_says_that_the_providers_admin_group_decides_at_sign_in(
    admin_cli: Callable[..., CliRun], associate: Any
) -> None:
    group = {"SEALPOST_ASSOCIATE_IDP_ADMIN_GROUP": "sealpost-admins"}
    run = admin_cli("grant-admin", "alice@plan.example", changed=group)
    assert run.code == 0, run.err
    assert "admin group (sealpost-admins)" in run.out and "decides again at each" in run.out
