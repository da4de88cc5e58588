"""R5: business partners may write only to the plan's own domains.

Anything else is refused (nothing is sent), audited, counted as a strike, reported to
the associates the partner does business with, and after N strikes (setting, default
3) the partner account is terminated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.accounts.model import Account, Role
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import AccessDenied, SealpostError
from chalicelib.mail.notices import Notifier
from chalicelib.messaging.model import BLOCK_LOG_DAYS, BlockedAttempt
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.settings import Settings

log = logging.getLogger(__name__)


class RecipientNotAllowed(AccessDenied):
    code = "recipient_not_allowed"


@dataclass(frozen=True)
class DomainFilter:
    settings: Settings
    accounts: AccountRepository
    threads: ThreadRepository
    notifier: Notifier
    audit: AuditLog

    def business_associates(self, partner: Account) -> set[str]:
        """The associates this partner already does business with: who invited them, and their threads' associates."""
        known = {partner.created_by} if partner.created_by else set()
        for entry in self.threads.inbox(partner.username):
            known.update(entry.associates)
        return known

    def associates_for(self, partner: Principal, recipients: list[str], request: RequestInfo) -> list[Account]:
        """The associate accounts a partner may write to, or ``RecipientNotAllowed`` (with a strike when off-domain)."""
        blocked = [address for address in recipients if not self.settings.is_internal_address(address)]
        if blocked:
            self._strike(partner, blocked, request)
        known = self.business_associates(partner.account)
        associates = []
        for address in recipients:
            account = self.accounts.get(address)
            if account is None or account.role is not Role.ASSOCIATE or account.username not in known:
                self.audit.record(
                    AuditEvent.ACCESS_DENIED,
                    actor=partner.actor,
                    request=request,
                    outcome=Outcome.DENIED,
                    reason="not_a_business_associate",
                )
                raise RecipientNotAllowed(
                    "You can write only to associates of the plan you already do business with.", field="recipients"
                )
            associates.append(account)
        return associates

    def _log_block(self, account: Account, domains: list[str], count: int, strikes: int, terminated: bool) -> None:
        """For the associates' domain-filter page; the audit record above is the one that counts."""
        attempt = BlockedAttempt(account.username, clock.iso(clock.now()), count, tuple(domains), strikes, terminated)
        try:
            self.threads.record_block(attempt, clock.epoch_seconds() + BLOCK_LOG_DAYS * 24 * 3600)
        except SealpostError:
            log.warning("blocked attempt not logged for the overview")

    def _strike(self, partner: Principal, blocked: list[str], request: RequestInfo) -> None:
        account = partner.account
        domains = sorted({address.rpartition("@")[2] for address in blocked})
        self.audit.record(
            AuditEvent.FILTER_BLOCKED,
            actor=partner.actor,
            request=request,
            outcome=Outcome.DENIED,
            account=account.username,
            reason="recipient_outside_plan",
            detail={"blocked_count": len(blocked), "blocked_domains": ",".join(domains)},
        )
        strikes = self.accounts.add_strike(account.username)
        limit = self.settings.strikes_before_termination
        terminated = strikes >= limit
        self.audit.record(
            AuditEvent.FILTER_STRIKE,
            actor=Actor.system(),
            request=request,
            account=account.username,
            reason="recipient_outside_plan",
            detail={"strikes": strikes, "limit": limit},
        )
        self._log_block(account, domains, len(blocked), strikes, terminated)
        if terminated:
            self.audit.record(
                AuditEvent.ACCOUNT_TERMINATED,
                actor=Actor.system(),
                request=request,
                account=account.username,
                reason="domain_filter_strikes",
            )
            self.accounts.terminate(account.username, "sealpost:domain-filter")
        for username in sorted(self.business_associates(account)):
            associate = self.accounts.get(username)
            if associate is not None and associate.is_associate:
                self.notifier.strike(associate, account, strikes, len(blocked), terminated)
        domains_text = ", ".join(self.settings.internal_domains)
        consequence = (
            "Your account has been terminated."
            if terminated
            else f"This attempt has been recorded (strike {strikes} of {limit}); "
            "repeated attempts will terminate your account."
        )
        raise RecipientNotAllowed(
            f"Secure messages can only be sent to addresses at {domains_text}. Nothing was sent. {consequence}",
            field="recipients",
        )
