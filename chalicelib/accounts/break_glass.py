"""Break-glass accounts: the emergency access procedure of HIPAA 164.312(a)(2)(ii).

A break-glass account is an associate account made ``active`` by ``sealpost-admin break-glass
create`` with a generated passphrase that the command prints once: two people seal it, and it
is used only when no ordinary associate can sign in. Every sign-in of such an account is audited
as ``signin.break_glass`` besides ``signin.succeeded`` (``accounts.signin``), fail closed. Its
passphrase is never reset by mail nor changed in the portal (so the sealed copy stays the only
one); after a use it is replaced here (``rotate``), which also ends every session and lifts a lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.accounts.directory import ADMIN, AccountDirectory, Operator, internal_address
from chalicelib.accounts.model import Account, Role, Status, validate_display_name
from chalicelib.accounts.passwords import check_new_password, hash_password
from chalicelib.audit.records import AuditEvent
from chalicelib.errors import Conflict, PasswordRejected

# Six groups of five characters from 31 that cannot be misread on paper (no 0/o, 1/l/i):
# 30 random characters, about 148 bits.
PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet, not a password
PASSPHRASE_GROUPS = 6
PASSPHRASE_GROUP_LENGTH = 5


def generate_passphrase(context: tuple[str, ...] = ()) -> str:
    """A random passphrase that meets the password rules (``passwords.check_new_password``)."""
    for _ in range(100):
        candidate = "-".join(
            "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_GROUP_LENGTH))
            for _ in range(PASSPHRASE_GROUPS)
        )
        try:
            return check_new_password(candidate, context=context)
        except PasswordRejected:  # a 148-bit random string never is; kept for the rule's sake
            continue
    raise RuntimeError("no acceptable passphrase was generated")


@dataclass(frozen=True)
class BreakGlassCredential:
    """A break-glass account and its passphrase, for the command to print once."""

    account: Account
    passphrase: str = field(repr=False)


@dataclass(frozen=True)
class BreakGlass:
    directory: AccountDirectory

    def create(self, operator: Operator, raw_email: Any, raw_display_name: Any = None) -> BreakGlassCredential:
        email = internal_address(self.directory.settings, raw_email)
        passphrase = generate_passphrase((email,))
        account = Account(
            username=email,
            email=email,
            role=Role.ASSOCIATE,
            status=Status.ACTIVE,
            display_name=validate_display_name(raw_display_name) or "Break-glass account",
            password_hash=hash_password(passphrase),
            created_at=clock.iso(clock.now()),
            created_by=ADMIN,
            break_glass=True,
            # It exists to manage things when the provider is down: an administrator (the provider's admin
            # group never reaches it, since it signs in with its passphrase only).
            administrator=True,
        )
        self.directory.store_new(
            operator, account, operator.detail(role=str(Role.ASSOCIATE), break_glass=True, administrator=True)
        )
        return BreakGlassCredential(account, passphrase)

    def rotate(self, operator: Operator, raw_username: Any) -> BreakGlassCredential:
        """A new passphrase for a break-glass account: the old one stops working, every session ends, a lock lifts."""
        account = self.directory.existing(raw_username)
        if not account.break_glass:
            raise Conflict(f"{account.username} is not a break-glass account.")
        if account.status is Status.TERMINATED:
            raise Conflict(f"{account.username} is disabled; create a new break-glass account instead.")
        passphrase = generate_passphrase((account.username, account.email))
        password_hash = hash_password(passphrase)
        self.directory.audit.record(
            AuditEvent.PASSWORD_CHANGED,
            actor=operator.actor,
            request=operator.request,
            account=account.username,
            reason="break_glass_rotated",
            detail=operator.detail(),
        )
        accounts = self.directory.accounts
        accounts.replace_password(account.username, password_hash, expected_generation=account.session_generation)
        return BreakGlassCredential(accounts.require(account.username), passphrase)
