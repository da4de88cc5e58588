"""The account item: what is stored, and what associates see."""

from __future__ import annotations

from chalicelib.accounts.model import Account, Role, Status


def account(**changes: object) -> Account:
    fields: dict[str, object] = {
        "username": "glass@plan.example",
        "email": "glass@plan.example",
        "role": Role.ASSOCIATE,
        "status": Status.ACTIVE,
    }
    return Account(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_break_glass_flag_is_stored_only_when_set_and_read_back() -> None:
    ordinary, glass = account(), account(break_glass=True)
    assert "break_glass" not in ordinary.to_item()
    assert glass.to_item()["break_glass"] is True
    assert Account.from_item(glass.to_item()).break_glass is True
    assert Account.from_item(ordinary.to_item()).break_glass is False
    # Only a real boolean counts: a string someone typed into the table does not make an account break-glass.
    assert Account.from_item({**ordinary.to_item(), "break_glass": "false"}).break_glass is False


def test_the_public_view_shows_the_flag() -> None:
    assert account(break_glass=True).public_view(3)["break_glass"] is True
    assert account().public_view(3)["break_glass"] is False
