"""The two names a partner signs in with in the ``recipient`` scope: every lockout and enumeration test
runs once with the user name and once with the mail address (in mixed case)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chalicelib.accounts.model import Account


@dataclass(frozen=True)
class Identifier:
    """How a test names an account at sign-in: ``user name`` or ``mail address``."""

    kind: str

    def of(self, account: Account) -> str:
        return self.either(account.username, account.email)

    def either(self, username: str, email: str) -> str:
        return username if self.kind == "user name" else email.title()

    def unknown(self, name: str) -> str:
        """An identifier of the same kind that no account has."""
        return name if self.kind == "user name" else f"{name}@Clinic.Example"


@pytest.fixture(params=["user name", "mail address"])
def identifier(request: pytest.FixtureRequest) -> Identifier:
    return Identifier(request.param)
