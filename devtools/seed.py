"""Seed accounts that, in production, come from the plan's identity provider (associates)."""

from __future__ import annotations

from chalicelib import clock
from chalicelib.accounts import Account, Role, Status
from chalicelib.passwords import check_new_password, hash_password
from chalicelib.services import Services

DEMO_ASSOCIATE = "associate@plan.example"
DEMO_ASSOCIATE_PASSWORD = "local demo associate passphrase"


def seed_associate(services: Services, email: str, password: str, display_name: str = "") -> Account:
    """Create an active associate account with a password (local mode and tests only)."""
    if not services.settings.is_internal_address(email):
        raise ValueError(f"{email} is not on an internal domain")
    account = Account(
        username=email.lower(),
        email=email.lower(),
        role=Role.ASSOCIATE,
        status=Status.ACTIVE,
        display_name=display_name,
        password_hash=hash_password(check_new_password(password)),
        created_at=clock.iso(clock.now()),
        created_by="seed",
    )
    services.accounts.create(account, claim_email=True)
    return account
