"""Which account a provider's identity signs in to (ASVS 6.8.1: the issuer and the subject together,
never the mail address alone), in the accounts table:

- ``IDP#<sha256(issuer)>#<sha256(subject)>``: the user name of the account that identity signs in to,
  written once (first sign-in) and never moved to another account. Hashes: the key holds no
  identifier of the provider's, and the same subject at another issuer is another key.

Also the few changes a sign-in through a provider makes to an account: the administrator flag, and an
invited partner who becomes active.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from chalicelib import clock
from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.store import AccountRepository, StaleAccount
from chalicelib.dynamo import Transaction, TransactionCancelled, is_conditional_failure, unavailable_on_outage
from chalicelib.errors import FederatedSignInRefused


def link_key(issuer: str, subject: str) -> str:
    return f"IDP#{_sha256(issuer)}#{_sha256(subject)}"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Links:
    accounts: AccountRepository

    def username(self, issuer: str, subject: str) -> str | None:
        with unavailable_on_outage("accounts"):
            item = self.accounts.table.get_item(Key={"pk": link_key(issuer, subject)}, ConsistentRead=True).get("Item")
        return str(item["username"]) if item else None

    def _item(self, issuer: str, subject: str, username: str, provider: str) -> dict[str, str]:
        return {
            "pk": link_key(issuer, subject),
            "kind": "idp_link",
            "username": username,
            "provider": provider,
            "linked_at": clock.iso(clock.now()),
        }

    def create_with_account(self, account: Account, issuer: str, subject: str, provider: str) -> None:
        """A new account, its mail claim and its link in one transaction: ``FederatedSignInRefused`` if
        the address or the link was taken meanwhile (a parallel first sign-in), nothing written then."""
        tx = Transaction()
        self.accounts.add_creation(tx, replace(account, linked_provider=provider), claim_email=True)
        tx.put(self.accounts.table_name, self._item(issuer, subject, account.username, provider))
        try:
            tx.execute(self.accounts.table.meta.client)
        except TransactionCancelled:
            raise FederatedSignInRefused("link_race") from None

    def link(self, username: str, issuer: str, subject: str, provider: str) -> None:
        """The link, and the account's note of its provider (``linked_provider``), in one transaction."""
        tx = Transaction()
        tx.put(self.accounts.table_name, self._item(issuer, subject, username, provider))
        tx.update(
            self.accounts.table_name,
            {"pk": "ACCOUNT#" + username},
            "SET linked_provider = :provider",
            condition="attribute_exists(pk)",
            values={":provider": provider},
        )
        try:
            tx.execute(self.accounts.table.meta.client)
        except TransactionCancelled:
            raise FederatedSignInRefused("link_race") from None

    def set_administrator(self, username: str, administrator: bool) -> None:
        self._update(username, "SET administrator = :flag", "#s = :active", {":flag": administrator})

    def activate_invited(self, username: str) -> None:
        """An invited partner whose first sign-in came through the partners' provider: active now."""
        self._update(
            username,
            "SET #s = :active, activated_at = :now",
            "#s = :invited",
            {
                ":invited": str(Status.INVITED),
                ":now": clock.iso(clock.now()),
            },
        )

    def _update(self, username: str, update: str, condition: str, values: dict[str, object]) -> None:
        with unavailable_on_outage("accounts"):
            try:
                self.accounts.table.update_item(
                    Key={"pk": "ACCOUNT#" + username},
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(pk) AND " + condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":active": str(Status.ACTIVE), **values},
                )
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise StaleAccount() from None
                raise
