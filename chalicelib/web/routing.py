"""Lets domain errors reach our middleware.

Chalice turns any exception raised in a view into its own 500 answer (and logs the
exception's text) unless it is a ``ChaliceUnhandledError``. Each view is wrapped so
that every exception travels to ``middleware.handle`` inside one, and is answered there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice.app import ChaliceUnhandledError


class Escalated(ChaliceUnhandledError):
    def __init__(self, original: Exception) -> None:
        super().__init__(type(original).__name__)
        self.original = original


def escalate(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            raise Escalated(exc) from exc

    return run
