"""What administrators do to the plan's own associate accounts in the portal: list them, disable (every
session ends), enable again, end every session, unlock. Only an active associate administrator may
(``admin.require_administrator``, fail closed). The changes themselves are the ones ``sealpost-admin``
makes (``directory.AccountDirectory``), with the administrator as the actor.

An administrator cannot disable their own account, nor the last active administrator (break-glass
accounts not counted): the plan would be left without anyone to manage its accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.admin import require_administrator
from chalicelib.accounts.directory import AccountDirectory, Detail, Invited
from chalicelib.accounts.model import Account, Role, validate_username
from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import Actor, AuditLog, RequestInfo
from chalicelib.errors import Conflict, NotFound


@dataclass(frozen=True)
class Administrator:
    """An administrator signed in to the portal, acting through ``AccountDirectory``."""

    principal: Principal
    request: RequestInfo

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def by(self) -> str:
        return self.principal.account.username

    @property
    def reason(self) -> str:
        return "administrator_request"

    def detail(self, **more: str | int | bool) -> Detail:
        return dict(more)


@dataclass(frozen=True)
class AssociateAccounts:
    directory: AccountDirectory
    audit: AuditLog

    def listing(self, principal: Principal, request: RequestInfo) -> list[Account]:
        """Every associate account, oldest first."""
        require_administrator(principal, self.audit, request, "list_associates")
        return self.directory.listing(Role.ASSOCIATE)

    def disable(self, principal: Principal, raw_username: Any, request: RequestInfo) -> Account:
        """It can no longer sign in (neither with a password nor through the provider); every session ends."""
        acting = self._acting(principal, request, "disable_associate")
        account = self._associate(raw_username)
        if account.username == principal.account.username:
            raise Conflict("You cannot disable your own account. Another administrator can.")
        self.directory.keep_an_administrator(account)
        return self.directory.disable(acting, account.username)

    def enable(self, principal: Principal, raw_username: Any, request: RequestInfo) -> Invited:
        """A disabled associate invited again (a new registration link is mailed; the old password is gone)."""
        acting = self._acting(principal, request, "enable_associate")
        return self.directory.enable(acting, self._associate(raw_username).username)

    def end_sessions(self, principal: Principal, raw_username: Any, request: RequestInfo) -> Account:
        acting = self._acting(principal, request, "end_associate_sessions")
        return self.directory.end_sessions(acting, self._associate(raw_username).username)

    def unlock(self, principal: Principal, raw_username: Any, request: RequestInfo) -> Account:
        acting = self._acting(principal, request, "unlock_associate")
        account = self._associate(raw_username)
        if account.break_glass:
            raise Conflict(
                f"{account.username} is a break-glass account: `sealpost-admin break-glass rotate` lifts its lock."
            )
        return self.directory.unlock(acting, account.username)

    def _acting(self, principal: Principal, request: RequestInfo, action: str) -> Administrator:
        require_administrator(principal, self.audit, request, action)
        return Administrator(principal, request)

    def _associate(self, raw_username: Any) -> Account:
        account = self.directory.accounts.get(validate_username(raw_username))
        if account is None or account.role is not Role.ASSOCIATE:
            raise NotFound("There is no associate account with this user name.")
        return account
