"""Who takes part in a new thread: the associate's colleagues, and the outside participants,
existing partner accounts or new ones prepared here (stored in the send's own transaction,
their first link a pickup link for the thread). In credential scope ``thread`` every thread
gets new partner accounts, bound to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.accounts.admin import AccountAdmin, PreparedPartner
from chalicelib.accounts.model import Account, Role, Status, validate_display_name
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose
from chalicelib.errors import Conflict, InvalidRequest
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Participants:
    settings: Settings
    accounts: AccountRepository
    admin: AccountAdmin

    @property
    def per_thread(self) -> bool:
        return self.settings.credential_scope == "thread"

    def associate(self, address: str) -> Account:
        """The active associate account of ``address`` (a colleague copied on a thread)."""
        account = self.accounts.get(address)
        if account is None or account.role is not Role.ASSOCIATE or account.status is not Status.ACTIVE:
            raise InvalidRequest(f"{address} is not an associate with a Sealpost account.", field="recipients")
        return account

    def outside(
        self, associate: Account, addresses: list[str], thread_id: str, names: Mapping[str, str] | None = None
    ) -> tuple[list[Account], list[PreparedPartner]]:
        """The partner accounts for ``addresses`` (existing, or new and not yet stored) and the new ones.
        A new account is named from ``names`` (as pasted: ``Dana Ortiz <dana@...>``); an existing one
        keeps its own name."""
        accounts: list[Account] = []
        new_partners: list[PreparedPartner] = []
        for address in addresses:
            existing = self._existing_partner(address)
            if existing is not None:
                accounts.append(existing)
            else:
                prepared = self.prepare(associate, address, _usable_name((names or {}).get(address, "")), thread_id)
                new_partners.append(prepared)
                accounts.append(prepared.account)
        return accounts, new_partners

    def again_for(self, inviter: Account, partner: Account, thread_id: str) -> PreparedPartner:
        """Scope ``thread``: a new account of the same person for a new thread."""
        return self.prepare(inviter, partner.email, partner.display_name, thread_id)

    def prepare(self, associate: Account, email: str, display_name: str, thread_id: str) -> PreparedPartner:
        """A new partner account whose first link is a pickup link for ``thread_id`` (it registers them)."""
        return self.admin.prepare_partner(
            associate,
            email,
            display_name,
            thread_id=thread_id if self.per_thread else None,
            link_purpose=TokenPurpose.PICKUP,
            link_thread_id=thread_id,
        )

    def _existing_partner(self, address: str) -> Account | None:
        if self.per_thread:
            return None
        username = self.accounts.username_for_email(address)
        if username is None:
            return None
        account = self.accounts.require(username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"The account for {address} has been terminated; it cannot receive messages.")
        return account


def _usable_name(raw: str) -> str:
    """A display name given with an address, if it passes the account rule; else none (never an error)."""
    try:
        return validate_display_name(raw)
    except InvalidRequest:
        return ""
