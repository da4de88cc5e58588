"""Administrators and the associate accounts they manage (chalicelib/accounts/associates.py, and
``admin.require_administrator``): only an active associate with the administrator flag passes, fail
closed; the changes are the directory's own, with the administrator as the actor."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.accounts.admin import require_administrator
from chalicelib.accounts.directory import Operator
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.sessions import Principal, Session
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import AccessDenied, Conflict, NotFound
from devtools.seed import seed_associate
from tests.conftest import Stack
from tests.support import DEMO_PASSWORD, audit_events

REQUEST = RequestInfo(request_id="test-request")


def principal(account: Account) -> Principal:
    session = Session("hash", account.username, str(account.role), account.session_generation, 0, 0)
    return Principal(account=account, session=session, csrf_token="token")


def administrator(stack: Stack, email: str = "bo@plan.example") -> Account:
    services = stack.services()
    seed_associate(services, email, DEMO_PASSWORD)
    return services.directory.set_administrator(Operator.named("pytest"), email, True)


def plain(role: Role = Role.ASSOCIATE, status: Status = Status.ACTIVE, flag: bool = False) -> Account:
    return Account("someone@plan.example", "someone@plan.example", role, status, administrator=flag)


@pytest.mark.parametrize(
    "who",
    [
        plain(),  # an associate without the flag
        plain(Role.PARTNER, flag=True),  # a flag on a partner account means nothing
        plain(status=Status.INVITED, flag=True),  # not signed up yet
        plain(status=Status.TERMINATED, flag=True),
    ],
    ids=["associate", "partner_with_flag", "invited_administrator", "disabled_administrator"],
)
def test_anyone_but_an_active_associate_administrator_is_denied_and_audited(stack: Stack, who: Account) -> None:
    with pytest.raises(AccessDenied, match="Only administrators"):
        require_administrator(principal(who), stack.services().audit, REQUEST, "list_associates")
    (denied,) = audit_events(stack, "access.denied")
    assert (denied["actor"], denied["outcome"], denied["reason"]) == (who.username, "denied", "administrator_only")
    assert denied["detail"] == {"action": "list_associates"}


def test_an_active_associate_administrator_passes_unaudited(stack: Stack) -> None:
    require_administrator(principal(plain(flag=True)), stack.services().audit, REQUEST, "list_associates")
    assert audit_events(stack, "access.denied") == []


def test_every_action_of_a_plain_associate_is_denied_before_anything_changes(stack: Stack, associate: Account) -> None:
    boss = administrator(stack)
    associates = stack.services().associates
    actions = {
        "disable_associate": associates.disable,
        "enable_associate": associates.enable,
        "end_associate_sessions": associates.end_sessions,
        "unlock_associate": associates.unlock,
    }
    for action in actions.values():
        with pytest.raises(AccessDenied):
            action(principal(associate), boss.username, REQUEST)
    with pytest.raises(AccessDenied):
        associates.listing(principal(associate), REQUEST)
    actions_denied = [r["detail"]["action"] for r in audit_events(stack, "access.denied")]
    assert actions_denied == [*actions, "list_associates"]
    assert stack.services().accounts.require(boss.username) == boss


def test_an_administrator_lists_associates_only(stack: Stack, associate: Account) -> None:
    boss = administrator(stack)
    listed = stack.services().associates.listing(principal(boss), REQUEST)
    assert [a.username for a in listed] == [associate.username, boss.username]


def test_disabling_oneself_is_refused(stack: Stack) -> None:
    boss = administrator(stack)
    with pytest.raises(Conflict, match="your own account"):
        stack.services().associates.disable(principal(boss), boss.username, REQUEST)
    assert audit_events(stack, "account.terminated") == []


def test_the_last_everyday_administrator_is_not_disabled_by_a_break_glass_account(stack: Stack) -> None:
    boss = administrator(stack)
    glass = replace(plain(flag=True), username="glass@plan.example", break_glass=True)
    associates = stack.services().associates
    with pytest.raises(Conflict, match="last active administrator"):
        associates.disable(principal(glass), boss.username, REQUEST)
    assert stack.services().accounts.require(boss.username).status is Status.ACTIVE
    administrator(stack, "cy@plan.example")
    assert associates.disable(principal(glass), boss.username, REQUEST).status is Status.TERMINATED


def test_a_partner_account_is_not_an_associate_here(stack: Stack, partner: Account) -> None:
    boss = administrator(stack)
    with pytest.raises(NotFound):
        stack.services().associates.disable(principal(boss), partner.username, REQUEST)
    assert stack.services().accounts.require(partner.username).status is Status.ACTIVE
