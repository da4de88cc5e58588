"""What associates oversee besides their threads: the TLS decision per recipient domain, and the
domain filter's strikes and recent blocks (R5, R7). Read-only views; associates only.

TLS decisions are read from the gateway's cache (written by ``chalicelib/gateway/tls_decision``);
nothing here probes a mail server. Blocks come from the small log the domain filter keeps next
to its audit records (``ThreadRepository.recent_blocks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.admin import AccountAdmin, require_associate
from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import AuditLog, RequestInfo
from chalicelib.dynamo import unavailable_on_outage
from chalicelib.errors import InvalidRequest
from chalicelib.gateway.dns_lookup import normalize_domain
from chalicelib.gateway.tls_decision import TlsDecision, TlsDecisionCache
from chalicelib.messaging.model import BlockedAttempt
from chalicelib.messaging.thread_store import ThreadRepository

MAX_DECISIONS = 500


@dataclass(frozen=True)
class FilterOverview:
    partners_with_strikes: tuple[Account, ...]
    recent_blocks: tuple[BlockedAttempt, ...]
    strikes_before_termination: int


@dataclass(frozen=True)
class Oversight:
    admin: AccountAdmin
    threads: ThreadRepository
    gateway_table_factory: Callable[[], Any]
    strikes_before_termination: int
    audit: AuditLog

    def tls_decisions(self, associate: Principal, request: RequestInfo) -> list[TlsDecision]:
        """Every fresh cached decision, by domain (at most ``MAX_DECISIONS``)."""
        require_associate(associate, self.audit, request, "tls_decisions")
        now = clock.epoch_seconds()
        found: list[TlsDecision] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "kind = :kind",
            "ExpressionAttributeValues": {":kind": "tls_decision"},
        }
        with unavailable_on_outage("gateway"):
            table = self.gateway_table_factory()
            while len(found) < MAX_DECISIONS:
                page = table.scan(**kwargs)
                found.extend(TlsDecision.from_item(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        fresh = [d for d in found if d.expires_at > now]
        return sorted(fresh, key=lambda d: d.domain)[:MAX_DECISIONS]

    def tls_decision(self, associate: Principal, raw_domain: Any, request: RequestInfo) -> TlsDecision | None:
        """The cached decision for one domain (or a mail address's domain); None when none is cached."""
        require_associate(associate, self.audit, request, "tls_decisions")
        if not isinstance(raw_domain, str) or not raw_domain.strip():
            raise InvalidRequest("Enter a mail domain, such as clinic.example.", field="domain")
        try:
            domain = normalize_domain(raw_domain.strip().rpartition("@")[2])
        except ValueError:
            raise InvalidRequest("This is not a mail domain.", field="domain") from None
        return TlsDecisionCache(self.gateway_table_factory).get(domain)

    def domain_filter(self, associate: Principal, request: RequestInfo) -> FilterOverview:
        require_associate(associate, self.audit, request, "domain_filter")
        partners = [p for p in self.admin.list_partners(associate, request) if p.strikes > 0]
        partners.sort(key=lambda p: (-p.strikes, p.username))
        return FilterOverview(tuple(partners), tuple(self.threads.recent_blocks()), self.strikes_before_termination)
