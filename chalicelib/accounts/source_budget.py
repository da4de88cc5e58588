"""The failure budget of one source address: guessing at many user names (or links) from one
network address is slowed without locking the accounts it guessed at.

The three-strike rule (R3, ``signin``) counts per account, so on its own three requests lock
any account whose user name is known, and one address may try three passwords on every name
it can think of. Here every attempt of the sign-in, pickup-link, registration and reset flows
is counted per source address (an IPv6 address by its /64, which one subscriber usually holds
whole) in a fixed window, by one atomic ADD before anything is checked:

- an attempt that ends well (the right password, a good link, or a request refused as
  malformed) is given back, so only failures stay counted;
- once an address has ``budget`` attempts counted in the window, its further attempts are
  refused (``TooManyAttempts``, 429 with Retry-After) before any password or link is checked,
  so they neither count against an account nor lock it, until the window ends;
- the first refusal of an address in a window is audited (``signin.throttled``); the audit
  record carries the source address as every record does, the DynamoDB key only its SHA-256.

Because the count is taken before the check and every caller gets its own count back, the
budget holds under concurrency too: at most ``budget`` attempts of one address are ever
checked per window, however many arrive at once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccountLocked, InvalidCredentials, LinkNotValid, TooManyAttempts
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

# What a failed attempt raises: a wrong password or user name, a locked account, a bad link.
FAILURES = (InvalidCredentials, AccountLocked, LinkNotValid)
IPV6_PREFIX = 64


def network_of(source_ip: str) -> str:
    """What one budget is kept for: the address itself, or an IPv6 address's /64 network."""
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return source_ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


@dataclass(frozen=True)
class BudgetWindow:
    """The counter item of one address in the current window."""

    key: str
    expires_at: int
    seconds_left: int

    @classmethod
    def now(cls, source_ip: str, window_seconds: int) -> BudgetWindow:
        now = clock.epoch_seconds()
        window = now // window_seconds
        digest = hashlib.sha256(network_of(source_ip).encode()).hexdigest()
        return cls(f"SOURCE#{digest}#{window}", (window + 2) * window_seconds, (window + 1) * window_seconds - now)


@dataclass
class Attempt:
    """One admitted attempt. ``failed()`` keeps it counted when the failure is not raised (a page
    that shows a bad link instead of raising)."""

    window: BudgetWindow | None
    counted: bool = False

    def failed(self) -> None:
        self.counted = True


@dataclass(frozen=True)
class SourceBudget:
    settings: Settings
    accounts: AccountRepository
    audit: AuditLog

    @property
    def budget(self) -> int:
        return int(self.settings.source_failure_budget)

    def admit(self, request: RequestInfo) -> Attempt:
        """Count one attempt of ``request``'s address, or refuse it (``TooManyAttempts``) past the budget."""
        if self.budget == 0 or not request.source_ip:
            return Attempt(None)  # turned off, or not a web request (system, scripts)
        window = BudgetWindow.now(request.source_ip, self.settings.source_failure_window_seconds)
        count = self.accounts.add_attempts(window.key, 1, window.expires_at)
        if count <= self.budget:
            return Attempt(window)
        if count == self.budget + 1:
            self.audit.record(
                AuditEvent.SIGNIN_THROTTLED,
                actor=Actor.anonymous(),
                request=request,
                outcome=Outcome.DENIED,
                reason="source_failure_budget",
                detail={
                    "failed_attempts": self.budget,
                    "window_minutes": self.settings.source_failure_window_seconds // 60,
                },
            )
        raise TooManyAttempts(max(1, window.seconds_left))

    def give_back(self, attempt: Attempt) -> None:
        """An attempt that did not fail stops counting. Best effort: its answer is already decided."""
        if attempt.window is None or attempt.counted:
            return
        try:
            self.accounts.add_attempts(attempt.window.key, -1, attempt.window.expires_at)
        except Exception as exc:  # a success must not turn into an error here
            log.warning("source budget not given back", extra={"error": type(exc).__name__})

    @contextmanager
    def attempt(self, request: RequestInfo, *, always_counts: bool = False) -> Iterator[Attempt]:
        """Around one check of a password or link: admitted first, counted when it raises one of
        ``FAILURES`` (or calls ``failed()``), given back otherwise. ``always_counts``: every
        attempt stays counted (a reset request, whose answer must not tell whether it matched)."""
        attempt = self.admit(request)
        if always_counts:
            attempt.failed()
        try:
            yield attempt
        except FAILURES:
            attempt.failed()
            raise
        finally:
            self.give_back(attempt)
