"""The accounts store's failure counter records what the failures were, in the same update that counts
them, so a lock that wrong second-factor codes helped to reach is known as theirs until it is lifted."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.accounts.model import Account, LockCause

PASSWORD, FACTOR = LockCause.PASSWORD, LockCause.SECOND_FACTOR


def counted(stack: Any, account: Account, *causes: LockCause) -> Account:
    accounts = stack.services().accounts
    for cause in causes:
        accounts.count_failure("ACCOUNT#" + account.username, 3, cause=cause)
    return accounts.require(account.username)


@pytest.mark.parametrize(
    ("causes", "lock"),
    [
        ((PASSWORD, PASSWORD, PASSWORD), PASSWORD),
        ((FACTOR, FACTOR, FACTOR), FACTOR),
        ((FACTOR, FACTOR, PASSWORD), FACTOR),  # a password's failure does not overwrite a code's
        ((PASSWORD, PASSWORD, FACTOR), FACTOR),
    ],
)
def test_the_lock_is_the_second_factors_once_any_wrong_code_was_counted(
    stack: Any, partner: Account, causes: tuple[LockCause, ...], lock: LockCause
) -> None:
    account = counted(stack, partner, *causes)
    assert account.failed_attempts == 3 and account.lock_cause(3) is lock


def test_an_account_below_the_threshold_has_no_lock_cause(stack: Any, partner: Account) -> None:
    account = counted(stack, partner, FACTOR)
    assert account.failure_cause is FACTOR and account.lock_cause(3) is None


def test_a_failure_past_the_lock_is_not_counted_and_changes_no_cause(stack: Any, partner: Account) -> None:
    accounts = stack.services().accounts
    counted(stack, partner, PASSWORD, PASSWORD, PASSWORD)
    assert accounts.count_failure("ACCOUNT#" + partner.username, 3, cause=FACTOR) is None
    assert accounts.require(partner.username).lock_cause(3) is PASSWORD


def test_unlocking_clears_the_cause_whoever_unlocks(stack: Any, partner: Account) -> None:
    # An associate's unlock and `sealpost-admin unlock` both come down to AccountRepository.unlock.
    accounts = stack.services().accounts
    counted(stack, partner, FACTOR, FACTOR, FACTOR)
    accounts.unlock(partner.username, "alice@plan.example")
    account = accounts.require(partner.username)
    assert (account.failed_attempts, account.failure_cause, account.lock_cause(3)) == (0, None, None)
    # The next run of failures starts afresh: passwords alone lock by the password again.
    assert counted(stack, partner, PASSWORD, PASSWORD, PASSWORD).lock_cause(3) is PASSWORD


def test_a_complete_sign_in_clears_the_cause_with_the_counter(stack: Any, partner: Account) -> None:
    accounts = stack.services().accounts
    counted(stack, partner, FACTOR)
    assert accounts.clear_failures(partner.username, 3) is True
    account = accounts.require(partner.username)
    assert (account.failed_attempts, account.failure_cause) == (0, None)


def test_an_unknown_names_guard_counts_as_before(stack: Any) -> None:
    accounts = stack.services().accounts
    assert [accounts.count_failure("GUARD#test#1", 3, 2_000_000_000) for _ in range(4)] == [1, 2, 3, None]
