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
from typing import Any, Protocol

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


class Acting(Protocol):
    """Who makes a change here: an ``Operator`` running ``sealpost-admin``, or an administrator in the
    portal (``accounts.associates``)."""

    @property
    def actor(self) -> Actor: ...

    @property
    def request(self) -> RequestInfo: ...

    @property
    def by(self) -> str:
        """Stored as who made the change (``terminated_by`` …, an invitation's ``created_by``)."""
        ...

    @property
    def reason(self) -> str:
        """The audit record's reason."""
        ...

    def detail(self, **more: str | int | bool) -> Detail: ...


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

    @property
    def by(self) -> str:
        return ADMIN

    @property
    def reason(self) -> str:
        return "operator_request"

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
        self,
        operator: Operator,
        raw_email: Any,
        raw_display_name: Any = None,
        *,
        mail: bool = True,
        administrator: bool = False,
    ) -> Invited:
        """A new associate account, ``invited``, and its single-use registration link (mailed unless not ``mail``);
        an ``administrator`` from the start (the first administrator of a new stack)."""
        email = internal_address(self.settings, raw_email)
        account = Account(
            username=email,
            email=email,
            role=Role.ASSOCIATE,
            status=Status.INVITED,
            display_name=validate_display_name(raw_display_name),
            created_at=clock.iso(clock.now()),
            created_by=ADMIN,
            administrator=administrator,
        )
        invitation = self._invitation(account, ADMIN)
        self.store_new(
            operator,
            account,
            operator.detail(role=str(Role.ASSOCIATE), invitation=_delivery(mail), administrator=administrator),
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
        invitation = self._invitation(account, ADMIN)
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

    def _invitation(self, account: Account, by: str) -> IssuedToken:
        return self.tokens.issue(
            TokenPurpose.INVITATION, account.username, self.settings.invitation_ttl_seconds, created_by=by
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

    def _associate(self, raw_username: Any, *, break_glass: bool = False) -> Account:
        """An associate account (a break-glass one only with ``break_glass``)."""
        account = self.existing(raw_username)
        if account.role is not Role.ASSOCIATE:
            raise Conflict(f"{account.username} is a business-partner account; associates manage it in the portal.")
        if account.break_glass and not break_glass:
            raise Conflict(f"{account.username} is a break-glass account: use `sealpost-admin break-glass`.")
        return account

    # --- changes -------------------------------------------------------------------------

    def unlock(self, operator: Acting, raw_username: Any) -> Account:
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
            reason=operator.reason,
            detail=operator.detail(),
        )
        self.accounts.unlock(account.username, operator.by)
        return self.accounts.require(account.username)

    def disable(self, operator: Acting, raw_username: Any) -> Account:
        """Terminate any account: it can no longer sign in, and every session of it ends at once."""
        account = self.existing(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"{account.username} is already disabled.")
        self.audit.record(
            AuditEvent.ACCOUNT_TERMINATED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason=operator.reason,
            detail=operator.detail(role=str(account.role), break_glass=account.break_glass),
        )
        self.accounts.terminate(account.username, operator.by)
        return self.accounts.require(account.username)

    def enable(self, operator: Acting, raw_username: Any, *, mail: bool = True) -> Invited:
        """A disabled associate account invited again: its old password is gone, so the holder must use the new
        single-use link, as on the first day. Partner and break-glass accounts are not enabled again."""
        account = self._associate(raw_username)
        if account.status is not Status.TERMINATED:
            raise Conflict(f"{account.username} is not disabled.")
        invitation = self._invitation(account, operator.by)
        self.audit.record(
            AuditEvent.ACCOUNT_REENABLED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason=operator.reason,
            detail=operator.detail(invitation=_delivery(mail)),
        )
        self.accounts.reenable(account.username, operator.by, invitation=(self.tokens.table_name, invitation.item()))
        return self._deliver(self.accounts.require(account.username), invitation, mail)

    def end_sessions(self, operator: Acting, raw_username: Any) -> Account:
        """End every session of an associate at once (the session generation moves on); it may sign in again."""
        account = self._associate(raw_username, break_glass=True)
        self.audit.record(
            AuditEvent.SESSIONS_REVOKED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason=operator.reason,
            detail=operator.detail(),
        )
        self.accounts.end_all_sessions(account.username)
        return self.accounts.require(account.username)

    # --- administrators ------------------------------------------------------------------

    def set_administrator(self, operator: Acting, raw_username: Any, administrator: bool) -> Account:
        """Grant or revoke the administrator flag of an associate (``grant-admin``, ``revoke-admin``), audited as
        ``account.role_changed``. Where the associates' provider has an admin group, it decides again at each
        sign-in (chalicelib/identity/federation.py)."""
        account = self._associate(raw_username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"{account.username} is disabled; enable it first.")
        if account.administrator is administrator:
            state = "already" if administrator else "not"
            raise Conflict(f"{account.username} is {state} an administrator.")
        if not administrator:
            self.keep_an_administrator(account)
        self.audit.record(
            AuditEvent.ACCOUNT_ROLE_CHANGED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason=operator.reason,
            detail=operator.detail(administrator=administrator),
        )
        self.accounts.set_administrator(account.username, administrator, operator.by)
        return self.accounts.require(account.username)

    def keep_an_administrator(self, leaving: Account) -> None:
        """Refuse a change that would leave no active administrator besides break-glass accounts (which stay
        sealed for emergencies): ``leaving`` stops being one."""
        if not is_everyday_administrator(leaving):
            return
        others = [
            a
            for a in self.accounts.list_by_role(Role.ASSOCIATE)
            if a.username != leaving.username and is_everyday_administrator(a)
        ]
        if not others:
            raise Conflict(
                f"{leaving.username} is the last active administrator. Make another associate an administrator "
                "first, so that someone can still manage the plan's accounts."
            )


def is_everyday_administrator(account: Account) -> bool:
    """An active associate administrator that is not a break-glass account."""
    return account.is_administrator and not account.break_glass


def _delivery(mail: bool) -> str:
    return "mailed" if mail else "printed"
