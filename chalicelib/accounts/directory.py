"""The plan's own accounts as an operator manages them with ``sealpost-admin``: create an associate and
invite them, invite again, list, unlock, disable and enable (break-glass accounts: ``break_glass``).

A deployed stack has no other way to get its first associate: associates never register
themselves (R1), and the identity-provider adapter is not part of this release. An associate
account is created ``invited`` with a single-use registration link (the same invitation flow as
partners: ``/register/{token}``), mailed or handed to the command to print for an out-of-band
first setup. Its user name is its mail address, on one of the plan's internal domains.

Every change is audited before it is written, so a failed audit write changes nothing (fail
closed). The actor is ``sealpost-admin`` (role ``operator``); the person who ran it is in the
record's detail (``operator``: the IAM caller's name for a stack, the OS user locally). Links are
returned to the caller only: never logged, never in a record or an error message.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status, validate_display_name, validate_username
from chalicelib.accounts.store import AccountRepository, UsernameTaken
from chalicelib.accounts.tokens import IssuedToken, TokenPurpose, TokenStore
from chalicelib.addresses import validate_email
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccountAlreadyExists, Conflict, InvalidRequest, NotFound, SealpostError
from chalicelib.mail.notices import Notifier
from chalicelib.settings import Settings

ADMIN = "sealpost-admin"
_IDENTITY_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@_-]")
_MAX_IDENTITY = 128

Detail = dict[str, str | int | bool]


@dataclass(frozen=True)
class Operator:
    """Who runs ``sealpost-admin``; one command run is one request in the audit trail."""

    identity: str
    request: RequestInfo = field(
        default_factory=lambda: RequestInfo(request_id=f"{ADMIN}-{uuid.uuid4()}", user_agent=ADMIN)
    )

    @classmethod
    def named(cls, raw_identity: str | None) -> Operator:
        """An operator from an IAM caller name or an OS user name, reduced to IAM's name characters."""
        identity = _IDENTITY_UNSAFE.sub("_", (raw_identity or "").strip())[:_MAX_IDENTITY]
        return cls(identity=identity or "unknown")

    @property
    def actor(self) -> Actor:
        return Actor(id=ADMIN, role="operator")

    def detail(self, **more: str | int | bool) -> Detail:
        return {"operator": self.identity, **more}


@dataclass(frozen=True)
class _Inviter:
    """Who the invitation mail says set the account up (the mail's ``Person``)."""

    username: str = ADMIN
    email: str = ""
    display_name: str = "The administrator"
    is_associate: bool = True


@dataclass(frozen=True)
class Invited:
    """An associate account with a fresh invitation: mailed, or the link for the operator to hand over."""

    account: Account
    mailed: bool
    valid_hours: int
    link: str | None = field(default=None, repr=False)


def internal_address(settings: Settings, raw_email: Any) -> str:
    """An address on the plan's internal domains that can be a user name, or a clear refusal."""
    email = validate_email(raw_email)
    if not settings.is_internal_address(email):
        raise InvalidRequest(
            f"{email} is not on the plan's own domains ({', '.join(settings.internal_domains)}). "
            "Associate accounts are for the plan's staff; business partners are invited by an associate "
            "in the portal.",
            field="email",
        )
    try:
        validate_username(email)
    except InvalidRequest:
        raise InvalidRequest(f"{email} cannot be a user name.", field="email") from None
    return email


@dataclass(frozen=True)
class AccountDirectory:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    notifier: Notifier
    audit: AuditLog

    # --- new accounts --------------------------------------------------------------------

    def create_associate(
        self, operator: Operator, raw_email: Any, raw_display_name: Any = None, *, mail: bool = True
    ) -> Invited:
        """A new associate account, ``invited``, and its single-use registration link (mailed unless not ``mail``)."""
        email = internal_address(self.settings, raw_email)
        account = Account(
            username=email,
            email=email,
            role=Role.ASSOCIATE,
            status=Status.INVITED,
            display_name=validate_display_name(raw_display_name),
            created_at=clock.iso(clock.now()),
            created_by=ADMIN,
        )
        invitation = self._invitation(account)
        self.store_new(
            operator,
            account,
            operator.detail(role=str(Role.ASSOCIATE), invitation=_delivery(mail)),
            also_put=((self.tokens.table_name, invitation.item()),),
        )
        return self._deliver(account, invitation, mail)

    def store_new(
        self,
        operator: Operator,
        account: Account,
        detail: Detail,
        *,
        also_put: tuple[tuple[str, dict[str, Any]], ...] = (),
    ) -> None:
        """Audit ``account.created``, then store the account (its address claimed) with ``also_put``."""
        if self.accounts.get(account.username) or self.accounts.username_for_email(account.email):
            raise AccountAlreadyExists(f"An account for {account.email} already exists.")
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            detail=detail,
        )
        try:
            self.accounts.create(account, claim_email=True, also_put=also_put)
        except (UsernameTaken, AccountAlreadyExists):
            self._aborted(operator, account, "account_exists")
            raise AccountAlreadyExists(f"An account for {account.email} already exists.") from None
        except SealpostError as exc:
            self._aborted(operator, account, exc.code)
            raise

    def _aborted(self, operator: Operator, account: Account, reason: str) -> None:
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=operator.actor,
            request=operator.request,
            outcome=Outcome.FAILURE,
            account=account.username,
            reason=reason,
            detail=operator.detail(),
        )

    def invite(self, operator: Operator, raw_username: Any, *, mail: bool = True) -> Invited:
        """A new registration link for an associate who has not chosen a password yet (the last one expired
        or was lost); every earlier link stops working."""
        account = self._associate(raw_username)
        if account.status is not Status.INVITED:
            raise Conflict(f"{account.username} is {account.status}: there is no registration to invite to.")
        invitation = self._invitation(account)
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason="invitation_resent",
            detail=operator.detail(invitation=_delivery(mail)),
        )
        self.accounts.replace_invitation(account.username, (self.tokens.table_name, invitation.item()))
        return self._deliver(account, invitation, mail)

    def _invitation(self, account: Account) -> IssuedToken:
        return self.tokens.issue(
            TokenPurpose.INVITATION, account.username, self.settings.invitation_ttl_seconds, created_by=ADMIN
        )

    def _deliver(self, account: Account, invitation: IssuedToken, mail: bool) -> Invited:
        hours = self.settings.invitation_ttl_seconds // 3600
        if not mail:
            return Invited(account, False, hours, link=self.notifier.invitation_link(invitation.secret))
        return Invited(account, self.notifier.invitation(_Inviter(), account, invitation.secret), hours)

    # --- what there is ---------------------------------------------------------------------

    def listing(self, role: Role | None = None, status: Status | None = None) -> list[Account]:
        """Accounts of ``role`` (default: every role) in ``status`` (default: any), oldest first."""
        found = [a for r in ([role] if role else list(Role)) for a in self.accounts.list_by_role(r)]
        return sorted((a for a in found if status is None or a.status is status), key=lambda a: a.created_at)

    def existing(self, raw_username: Any) -> Account:
        account = self.accounts.get(validate_username(raw_username))
        if account is None:
            raise NotFound("There is no account with this user name.")
        return account

    def _associate(self, raw_username: Any) -> Account:
        account = self.existing(raw_username)
        if account.role is not Role.ASSOCIATE:
            raise Conflict(f"{account.username} is a business-partner account; associates manage it in the portal.")
        if account.break_glass:
            raise Conflict(f"{account.username} is a break-glass account: use `sealpost-admin break-glass`.")
        return account

    # --- changes -------------------------------------------------------------------------

    def unlock(self, operator: Operator, raw_username: Any) -> Account:
        """Lift the lock of three failed sign-ins (associates have no one else to unlock them)."""
        account = self.existing(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"{account.username} is disabled; unlocking would not let anyone in.")
        if not account.is_locked(self.settings.lockout_threshold):
            raise Conflict(f"{account.username} is not locked.")
        self.audit.record(
            AuditEvent.ACCOUNT_UNLOCKED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason="operator_request",
            detail=operator.detail(),
        )
        self.accounts.unlock(account.username, ADMIN)
        return self.accounts.require(account.username)

    def disable(self, operator: Operator, raw_username: Any) -> Account:
        """Terminate any account: it can no longer sign in, and every session of it ends at once."""
        account = self.existing(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"{account.username} is already disabled.")
        self.audit.record(
            AuditEvent.ACCOUNT_TERMINATED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason="operator_request",
            detail=operator.detail(role=str(account.role), break_glass=account.break_glass),
        )
        self.accounts.terminate(account.username, ADMIN)
        return self.accounts.require(account.username)

    def enable(self, operator: Operator, raw_username: Any, *, mail: bool = True) -> Invited:
        """A disabled associate account invited again: its old password is gone, so the holder must use the new
        single-use link, as on the first day. Partner and break-glass accounts are not enabled again."""
        account = self._associate(raw_username)
        if account.status is not Status.TERMINATED:
            raise Conflict(f"{account.username} is not disabled.")
        invitation = self._invitation(account)
        self.audit.record(
            AuditEvent.ACCOUNT_REENABLED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason="operator_request",
            detail=operator.detail(invitation=_delivery(mail)),
        )
        self.accounts.reenable(account.username, ADMIN, invitation=(self.tokens.table_name, invitation.item()))
        return self._deliver(self.accounts.require(account.username), invitation, mail)


def _delivery(mail: bool) -> str:
    return "mailed" if mail else "printed"
