"""Who mail is from or to, as the mail code needs them. Accounts fit this shape, so the mail code
never depends on the accounts package."""

from __future__ import annotations

from typing import Protocol


class Person(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def is_associate(self) -> bool: ...


def display(person: Person) -> str:
    """The name to show for ``person``: their display name, else their mail address."""
    return person.display_name or person.email
