"""Accounts in DynamoDB.

Items in the accounts table (partition key ``pk``):

- ``ACCOUNT#<username>``: the account. ``failed_attempts`` is the sign-in failure
  counter; the account is locked while it is at or above the lockout threshold, so
  the lock is decided by the same atomic update that counts the failure, which also records its
  ``failure_cause`` (a second factor's lock is one that a password reset never lifts).
  ``invitation_hash`` is the hash of its one good invitation link once an invitation was sent again.
- ``EMAIL#<address>``: claims a mail address for one account (credential scope
  ``recipient``), written in the same transaction as the account.
- ``GUARD#<sha256 of a user name>#<day>``: the failure counter for a user name that
  has no account, so that unknown names warn and lock exactly like real ones. One
  counter per window (a day by default), removed by TTL; the typed name itself is
  never stored.
- ``SOURCE#<sha256 of a network address>#<window>``: the attempts one source address (an
  IPv6 /64) made in a window, for its failure budget (``accounts.source_budget``); removed
  by TTL. The address itself is never stored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.model import Account, LockCause, Role, Status
from chalicelib.dynamo import (
    TableStore,
    Transaction,
    TransactionCancelled,
    as_int,
    is_conditional_failure,
    unavailable_on_outage,
)
from chalicelib.errors import AccountAlreadyExists, Conflict, NotFound


@dataclass(frozen=True)
class CreationSlots:
    """Where an account's items sit in a transaction, to explain why it was cancelled."""

    account: int
    email: int | None

    def raise_for(self, cancelled: TransactionCancelled) -> None:
        reasons = cancelled.reasons
        if self.email is not None and len(reasons) > self.email and reasons[self.email] == "ConditionalCheckFailed":
            raise AccountAlreadyExists() from None
        if len(reasons) > self.account and reasons[self.account] == "ConditionalCheckFailed":
            raise UsernameTaken() from None


class StaleAccount(Conflict):
    code = "account_changed"
    default_message = "The account changed while this was being done. Reload the page and try again."


class UsernameTaken(Exception):
    """Raised inside the repository when a generated user name collides; callers retry."""


@dataclass(frozen=True)
class AccountRepository(TableStore):
    def get(self, username: str) -> Account | None:
        with unavailable_on_outage("accounts"):
            item = self.table.get_item(Key={"pk": "ACCOUNT#" + username}, ConsistentRead=True).get("Item")
        return Account.from_item(item) if item else None

    def require(self, username: str) -> Account:
        account = self.get(username)
        if account is None:
            raise NotFound("There is no such account.")
        return account

    def username_for_email(self, email: str) -> str | None:
        with unavailable_on_outage("accounts"):
            item = self.table.get_item(Key={"pk": "EMAIL#" + email}, ConsistentRead=True).get("Item")
        return item["username"] if item else None

    def add_creation(self, tx: Transaction, account: Account, *, claim_email: bool) -> CreationSlots:
        """Add a new account (and, with ``claim_email``, the claim on its address) to ``tx``."""
        table = self.table_name
        account_slot = len(tx.items)
        tx.put(table, account.to_item())
        email_slot = None
        if claim_email:
            email_slot = len(tx.items)
            tx.put(table, {"pk": "EMAIL#" + account.email, "kind": "email", "username": account.username})
        return CreationSlots(account_slot, email_slot)

    def create(
        self,
        account: Account,
        *,
        claim_email: bool,
        also_put: tuple[tuple[str, dict[str, Any]], ...] = (),
    ) -> None:
        """Store a new account in one transaction with ``also_put`` (table name, item) pairs.

        With ``claim_email`` the mail address may belong to no other account.
        """
        tx = Transaction()
        slots = self.add_creation(tx, account, claim_email=claim_email)
        for name, item in also_put:
            tx.put(name, item)
        try:
            tx.execute(self.table.meta.client)
        except TransactionCancelled as cancelled:
            slots.raise_for(cancelled)
            raise

    def list_by_role(self, role: Role) -> list[Account]:
        return self._query_index("by_role", "role", str(role))

    def list_by_email(self, email: str) -> list[Account]:
        """Every account of a mail address (several in credential scope ``thread``)."""
        return self._query_index("by_email", "email", email)

    def _query_index(self, index: str, attribute: str, value: str) -> list[Account]:
        accounts: list[Account] = []
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#a = :value",
            "ExpressionAttributeNames": {"#a": attribute},
            "ExpressionAttributeValues": {":value": value},
        }
        with unavailable_on_outage("accounts"):
            while True:
                page = self.table.query(**kwargs)
                accounts.extend(
                    Account.from_item(item) for item in page.get("Items", []) if item.get("kind") == "account"
                )
                if "LastEvaluatedKey" not in page:
                    return accounts
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the sign-in failure counter --------------------------------------------------

    def count_failure(
        self, pk: str, threshold: int, expires_at: int | None = None, *, cause: LockCause = LockCause.PASSWORD
    ) -> int | None:
        """Atomically add one failure while below ``threshold``; the new count, or None if already locked.

        One conditional UpdateItem: concurrent failures can never push the count past the
        threshold, so the third of any number of parallel wrong attempts is the one that locks.
        The same update records the ``cause`` (``Account.failure_cause``): a second factor's failure
        always, a password's only where none is recorded, so a lock that any wrong code helped to
        reach stays the second factor's, whatever failure came last.
        """
        update = "ADD failed_attempts :one SET failure_cause = " + (
            ":cause" if cause is LockCause.SECOND_FACTOR else "if_not_exists(failure_cause, :cause)"
        )
        values: dict[str, Any] = {":one": 1, ":max": threshold, ":cause": str(cause)}
        if expires_at is not None:
            update += ", expires_at = :exp"
            values[":exp"] = expires_at
        with unavailable_on_outage("accounts"):
            try:
                result = self.table.update_item(
                    Key={"pk": pk},
                    UpdateExpression=update,
                    ConditionExpression="attribute_not_exists(failed_attempts) OR failed_attempts < :max",
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    return None
                raise
        return as_int(result["Attributes"]["failed_attempts"])

    def add_attempts(self, pk: str, delta: int, expires_at: int) -> int:
        """Atomically add ``delta`` to the attempt counter at ``pk`` (made if missing, removed by TTL
        after ``expires_at``); the new count. Every concurrent caller sees a different count."""
        with unavailable_on_outage("accounts"):
            result = self.table.update_item(
                Key={"pk": pk},
                UpdateExpression="ADD attempts :delta SET expires_at = :exp",
                ExpressionAttributeValues={":delta": delta, ":exp": expires_at},
                ReturnValues="UPDATED_NEW",
            )
        return as_int(result["Attributes"]["attempts"])

    def clear_failures(self, username: str, threshold: int) -> bool:
        """Reset the counter after a correct password; False when the account is (or just became) locked."""
        with unavailable_on_outage("accounts"):
            try:
                self.table.update_item(
                    Key={"pk": "ACCOUNT#" + username},
                    UpdateExpression="SET failed_attempts = :zero, last_signin_at = :now REMOVE failure_cause",
                    ConditionExpression="attribute_exists(pk) AND failed_attempts < :max AND #s = :active",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":zero": 0,
                        ":max": threshold,
                        ":now": clock.iso(clock.now()),
                        ":active": str(Status.ACTIVE),
                    },
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True

    # --- changes made by associates and by the account holder -------------------------

    def _update(self, username: str, update: str, condition: str, values: dict[str, Any]) -> None:
        with unavailable_on_outage("accounts"):
            try:
                self.table.update_item(
                    Key={"pk": "ACCOUNT#" + username},
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(pk) AND " + condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=values,
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise StaleAccount() from None
                raise

    def unlock(self, username: str, by: str) -> None:
        """Lift the lock. The session generation moves on too, so a session from before the lock stays dead
        whatever locked the account (the password's lock ends them already; a second factor's may not)."""
        self._update(
            username,
            "SET failed_attempts = :zero, unlocked_at = :now, unlocked_by = :by REMOVE failure_cause "
            "ADD session_generation :one",
            "#s <> :terminated",
            {
                ":zero": 0,
                ":now": clock.iso(clock.now()),
                ":by": by,
                ":terminated": str(Status.TERMINATED),
                ":one": 1,
            },
        )

    def set_administrator(self, username: str, administrator: bool, by: str) -> None:
        """Grant or revoke the administrator flag of an account that is not terminated."""
        self._update(
            username,
            "SET administrator = :flag, role_changed_at = :now, role_changed_by = :by",
            "#s <> :terminated",
            {":flag": administrator, ":now": clock.iso(clock.now()), ":by": by, ":terminated": str(Status.TERMINATED)},
        )

    def terminate(self, username: str, by: str) -> None:
        self._update(
            username,
            "SET #s = :terminated, terminated_at = :now, terminated_by = :by ADD session_generation :one",
            "#s <> :terminated",
            {":terminated": str(Status.TERMINATED), ":now": clock.iso(clock.now()), ":by": by, ":one": 1},
        )

    def reenable(self, username: str, by: str, *, invitation: tuple[str, dict[str, Any]]) -> None:
        """Make a terminated account invited again, in one transaction with its new ``invitation`` (the
        tokens table's name and the token's item), which becomes its only good invitation link.

        Its password is removed and its failure counter cleared; the session generation moves on,
        so no session from before ever comes back.
        """
        tokens_table, invitation_item = invitation
        tx = Transaction()
        tx.update(
            self.table_name,
            {"pk": "ACCOUNT#" + username},
            "SET #s = :invited, failed_attempts = :zero, reenabled_at = :now, reenabled_by = :by, "
            "invitation_hash = :hash REMOVE password_hash, failure_cause ADD session_generation :one",
            condition="attribute_exists(pk) AND #s = :terminated",
            names={"#s": "status"},
            values={
                ":invited": str(Status.INVITED),
                ":terminated": str(Status.TERMINATED),
                ":zero": 0,
                ":one": 1,
                ":now": clock.iso(clock.now()),
                ":by": by,
                ":hash": invitation_item["pk"],
            },
        )
        tx.put(tokens_table, invitation_item)
        self._execute_on_account(tx)

    def replace_invitation(self, username: str, invitation: tuple[str, dict[str, Any]]) -> None:
        """Store a new invitation (the tokens table's name and the token's item) and make it the account's
        only good one, in one transaction: every earlier invitation link stops working. The account must
        still be invited (``StaleAccount`` otherwise)."""
        tokens_table, invitation_item = invitation
        tx = Transaction()
        tx.update(
            self.table_name,
            {"pk": "ACCOUNT#" + username},
            "SET invitation_hash = :hash",
            condition="attribute_exists(pk) AND #s = :invited",
            names={"#s": "status"},
            values={":hash": invitation_item["pk"], ":invited": str(Status.INVITED)},
        )
        tx.put(tokens_table, invitation_item)
        self._execute_on_account(tx)

    def _execute_on_account(self, tx: Transaction) -> None:
        """Run ``tx``, whose first item is the account's conditional update: ``StaleAccount`` when that failed."""
        try:
            tx.execute(self.table.meta.client)
        except TransactionCancelled as cancelled:
            if cancelled.reasons and cancelled.reasons[0] == "ConditionalCheckFailed":
                raise StaleAccount() from None
            raise

    def replace_password(self, username: str, password_hash: str, *, expected_generation: int) -> None:
        """A password set by an administrator: the account becomes active and unlocked, every session ends."""
        self._update(
            username,
            "SET password_hash = :hash, #s = :active, failed_attempts = :zero, password_changed_at = :now "
            "REMOVE failure_cause ADD session_generation :one",
            "#s <> :terminated AND session_generation = :gen",
            {
                ":hash": password_hash,
                ":active": str(Status.ACTIVE),
                ":zero": 0,
                ":now": clock.iso(clock.now()),
                ":one": 1,
                ":terminated": str(Status.TERMINATED),
                ":gen": expected_generation,
            },
        )

    def set_password(self, username: str, password_hash: str, *, expected_generation: int) -> None:
        """Store a new hash, activate an invited account and end every existing session."""
        self._update(
            username,
            "SET password_hash = :hash, #s = :active, password_changed_at = :now ADD session_generation :one",
            "#s <> :terminated AND session_generation = :gen",
            {
                ":hash": password_hash,
                ":active": str(Status.ACTIVE),
                ":now": clock.iso(clock.now()),
                ":one": 1,
                ":terminated": str(Status.TERMINATED),
                ":gen": expected_generation,
            },
        )

    def add_strike(self, username: str) -> int:
        """Count one domain-filter strike (atomic); returns the new number of strikes."""
        with unavailable_on_outage("accounts"):
            result = self.table.update_item(
                Key={"pk": "ACCOUNT#" + username},
                UpdateExpression="ADD strikes :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
        return as_int(result["Attributes"]["strikes"])

    def note_reset_request(self, username: str, min_interval_seconds: int, request_id: str) -> bool:
        """Record a password-reset request; False when another one was made less than
        ``min_interval_seconds`` ago (the retry of the same ``request_id`` passes again)."""
        now = clock.epoch_seconds()
        with unavailable_on_outage("accounts"):
            try:
                self.table.update_item(
                    Key={"pk": "ACCOUNT#" + username},
                    UpdateExpression="SET reset_requested_at = :now, reset_request_id = :rid",
                    ConditionExpression=(
                        "attribute_exists(pk) AND (attribute_not_exists(reset_requested_at) "
                        "OR reset_requested_at < :cutoff OR reset_request_id = :rid)"
                    ),
                    ExpressionAttributeValues={":now": now, ":cutoff": now - min_interval_seconds, ":rid": request_id},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    return False
                raise
        return True

    def end_all_sessions(self, username: str) -> None:
        self._update(username, "ADD session_generation :one", "attribute_exists(#s)", {":one": 1})
