"""Whether a recipient domain takes mail over TLS, verified or not: a decision, its reason, a cache.

The decision for a domain (``TlsDecider.decide``):

1. MX look-up. No such domain, or a null MX (RFC 7505): ``no_tls``. No MX records: the
   domain itself is the mail server (RFC 5321 5.1). DNS failure: ``no_tls``, transient.
2. MTA-STS policy (RFC 8461). In ``enforce`` mode only the MX hosts the policy lists
   are used; none listed: ``no_tls``. ``testing``/``none`` or no usable policy: not
   enforced (the reason says so).
3. STARTTLS probe of the MX hosts a sending server would use first: those of the best
   preference (up to ``max_hosts``); if none of them answers, the next preference.
   - every probed host verified (certificate valid for its MX name): ``tls_verified``
     (reason ``mta_sts_enforced`` under an enforce policy, else ``certificate_verified``);
   - under an enforce policy anything less is a policy violation: ``no_tls``;
   - otherwise all offer STARTTLS but some certificate fails verification:
     ``tls_unverified``; a host without working STARTTLS: ``no_tls``;
   - a host of that preference that did not answer caps the verdict at
     ``tls_unverified`` and makes the decision transient; none answered: ``no_tls``.

Fail closed: only a completed, verified handshake yields ``tls_verified``; every error
yields a weaker verdict with its reason. Transient decisions (DNS or network trouble)
are cached for a short time only; others for the TTL setting (24 h by default), or the
MTA-STS ``max_age`` if that is shorter.

Stored in the gateway table as ``TLS#<domain>`` with ``expires_at`` (DynamoDB TTL);
expired items are ignored on read, since TTL deletion lags. Nothing stored is PHI:
domain, host names, verdict, reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from chalicelib import aws_clients, clock
from chalicelib.dynamo import TableStore, as_int, unavailable_on_outage
from chalicelib.gateway.dns_lookup import DnsError, DnsErrorKind, DnsLookup, DnsPythonLookup, MxRecord, normalize_domain
from chalicelib.gateway.mta_sts import HttpsPolicyFetcher, MtaStsLookup, PolicyLookup, PolicyStatus
from chalicelib.gateway.tls_probe import ProbeOutcome, ProbeResult, StartTlsProbe
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

TRANSIENT_TTL_SECONDS = 15 * 60
MIN_TTL_SECONDS = 60


class TlsVerdict(StrEnum):
    TLS_VERIFIED = "tls_verified"
    TLS_UNVERIFIED = "tls_unverified"
    NO_TLS = "no_tls"


class DecisionReason(StrEnum):
    MTA_STS_ENFORCED = "mta_sts_enforced"
    CERTIFICATE_VERIFIED = "certificate_verified"
    CERTIFICATE_NOT_VERIFIED = "certificate_not_verified"
    NOT_ALL_SERVERS_ANSWERED = "not_all_servers_answered"
    MTA_STS_VIOLATION = "mta_sts_violation"
    NO_STARTTLS = "no_starttls"
    STARTTLS_FAILED = "starttls_failed"
    UNREACHABLE = "unreachable"
    NO_MAIL_SERVER = "no_mail_server"
    NO_SUCH_DOMAIN = "no_such_domain"
    DNS_ERROR = "dns_error"
    INVALID_DOMAIN = "invalid_domain"


_STS_NOTES = {
    PolicyStatus.NOT_PUBLISHED: "",
    PolicyStatus.INVALID_RECORD: " Its MTA-STS record is not valid, so no policy applies.",
    PolicyStatus.DNS_ERROR: " Whether it publishes an MTA-STS policy could not be looked up.",
    PolicyStatus.FETCH_FAILED: " It announces an MTA-STS policy that could not be fetched over verified HTTPS.",
    PolicyStatus.INVALID_POLICY: " Its MTA-STS policy file is not valid, so no policy applies.",
}


@dataclass(frozen=True)
class TlsDecision:
    domain: str
    verdict: TlsVerdict
    reason: DecisionReason
    detail: str  # for associates: why, in a sentence or two
    mx_hosts: tuple[str, ...] = ()
    mta_sts_mode: str | None = None
    transient: bool = False
    checked_at: int = 0
    expires_at: int = 0

    @property
    def verified(self) -> bool:
        return self.verdict is TlsVerdict.TLS_VERIFIED

    def permits_tls_delivery(self, *, sensitive: bool) -> bool:
        """Mail may go by TLS when verified, or when TLS is unverified and nothing sensitive was found."""
        if self.verdict is TlsVerdict.TLS_VERIFIED:
            return True
        return self.verdict is TlsVerdict.TLS_UNVERIFIED and not sensitive

    def public_view(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "verdict": str(self.verdict),
            "reason": str(self.reason),
            "detail": self.detail,
            "mx_hosts": list(self.mx_hosts),
            "mta_sts_mode": self.mta_sts_mode,
            "checked_at": clock.iso(datetime.fromtimestamp(self.checked_at, tz=UTC)),
            "expires_at": clock.iso(datetime.fromtimestamp(self.expires_at, tz=UTC)),
        }

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": "TLS#" + self.domain,
            "kind": "tls_decision",
            "domain": self.domain,
            "verdict": str(self.verdict),
            "reason": str(self.reason),
            "detail": self.detail,
            "mx_hosts": list(self.mx_hosts),
            "transient": self.transient,
            "checked_at": self.checked_at,
            "expires_at": self.expires_at,
        }
        if self.mta_sts_mode:
            item["mta_sts_mode"] = self.mta_sts_mode
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TlsDecision:
        return cls(
            domain=item["domain"],
            verdict=TlsVerdict(item["verdict"]),
            reason=DecisionReason(item["reason"]),
            detail=item.get("detail", ""),
            mx_hosts=tuple(item.get("mx_hosts", ())),
            mta_sts_mode=item.get("mta_sts_mode"),
            transient=bool(item.get("transient", False)),
            checked_at=as_int(item.get("checked_at")),
            expires_at=as_int(item.get("expires_at")),
        )


class Prober(Protocol):
    def probe(self, host: str) -> ProbeResult: ...


class PolicySource(Protocol):
    def lookup(self, domain: str) -> PolicyLookup: ...


_RANK = {ProbeOutcome.VERIFIED: 2, ProbeOutcome.UNVERIFIED: 1}


class TlsDecider:
    def __init__(
        self,
        dns: DnsLookup,
        prober: Prober,
        mta_sts: PolicySource,
        *,
        ttl_seconds: int = 24 * 60 * 60,
        transient_ttl_seconds: int = TRANSIENT_TTL_SECONDS,
        max_hosts: int = 3,
    ) -> None:
        self._dns = dns
        self._prober = prober
        self._mta_sts = mta_sts
        self._ttl = ttl_seconds
        self._transient_ttl = min(transient_ttl_seconds, ttl_seconds)
        self._max_hosts = max_hosts

    def decide(self, domain: str) -> TlsDecision:
        """The decision for ``domain``, worked out now. Never raises."""
        try:
            domain = normalize_domain(domain)
        except ValueError:
            return self._made("", TlsVerdict.NO_TLS, DecisionReason.INVALID_DOMAIN, "This is not a mail domain.")
        try:
            return self._decide(domain)
        except Exception as exc:  # fail closed
            log.warning("tls decision failed", extra={"error": type(exc).__name__})
            return self._made(
                domain,
                TlsVerdict.NO_TLS,
                DecisionReason.UNREACHABLE,
                f"The mail servers of {domain} could not be checked.",
                transient=True,
            )

    def _made(
        self,
        domain: str,
        verdict: TlsVerdict,
        reason: DecisionReason,
        detail: str,
        *,
        hosts: Sequence[str] = (),
        sts: PolicyLookup | None = None,
        transient: bool = False,
    ) -> TlsDecision:
        now = clock.epoch_seconds()
        ttl = self._transient_ttl if transient else self._ttl
        if sts is not None and sts.policy is not None:
            ttl = max(MIN_TTL_SECONDS, min(ttl, sts.policy.max_age))
        return TlsDecision(
            domain=domain,
            verdict=verdict,
            reason=reason,
            detail=detail,
            mx_hosts=tuple(hosts),
            mta_sts_mode=str(sts.policy.mode) if sts is not None and sts.policy is not None else None,
            transient=transient,
            checked_at=now,
            expires_at=now + ttl,
        )

    def _decide(self, domain: str) -> TlsDecision:
        try:
            records = self._dns.mx(domain)
        except DnsError as error:
            if error.kind is DnsErrorKind.NO_SUCH_DOMAIN:
                return self._made(domain, TlsVerdict.NO_TLS, DecisionReason.NO_SUCH_DOMAIN, f"{domain} does not exist.")
            if error.kind is DnsErrorKind.NO_RECORDS:
                records = [MxRecord(0, domain)]  # RFC 5321 5.1: the domain itself
            else:
                return self._made(
                    domain,
                    TlsVerdict.NO_TLS,
                    DecisionReason.DNS_ERROR,
                    f"The mail servers of {domain} could not be looked up.",
                    transient=True,
                )
        if not records or any(record.host == "" for record in records):
            return self._made(
                domain, TlsVerdict.NO_TLS, DecisionReason.NO_MAIL_SERVER, f"{domain} does not accept mail (null MX)."
            )
        levels = _preference_levels(records)
        sts = self._mta_sts.lookup(domain)
        note = _STS_NOTES.get(sts.status, "")
        if sts.policy is not None and not sts.enforced:
            note = f" Its MTA-STS policy is in {sts.policy.mode} mode, which does not require verified TLS."
        if sts.enforced:
            assert sts.policy is not None
            policy = sts.policy
            levels = [[h for h in level if policy.allows(h)] for level in levels]
            levels = [level for level in levels if level]
            if not levels:
                return self._made(
                    domain,
                    TlsVerdict.NO_TLS,
                    DecisionReason.MTA_STS_VIOLATION,
                    f"{domain} requires verified TLS (MTA-STS enforce), but none of its mail servers"
                    " is listed in its policy.",
                    hosts=[r.host for r in records],
                    sts=sts,
                )
        tried: list[ProbeResult] = []
        for level in levels:
            hosts = level[: self._max_hosts]
            results = [self._prober.probe(host) for host in hosts]
            if any(result.answered for result in results):
                return self._judge(domain, hosts, results, sts, note)
            tried.extend(results)
        details = " ".join(f"{r.detail}." for r in tried)
        return self._made(
            domain,
            TlsVerdict.NO_TLS,
            DecisionReason.UNREACHABLE,
            f"No mail server of {domain} could be checked: {details}{note}",
            hosts=[r.host for r in tried],
            sts=sts,
            transient=True,
        )

    def _judge(
        self, domain: str, hosts: list[str], results: list[ProbeResult], sts: PolicyLookup, note: str
    ) -> TlsDecision:
        answered = [r for r in results if r.answered]
        silent = [r for r in results if not r.answered]
        worst = min(answered, key=lambda r: _RANK.get(r.outcome, 0))
        details = " ".join(f"{r.detail}." for r in results)

        # Not knowing whether an MTA-STS policy exists (DNS trouble) is uncertain: look again soon.
        uncertain = sts.status is PolicyStatus.DNS_ERROR

        def made(verdict: TlsVerdict, reason: DecisionReason, text: str, transient: bool = False) -> TlsDecision:
            return self._made(domain, verdict, reason, text, hosts=hosts, sts=sts, transient=transient or uncertain)

        if sts.enforced:
            if worst.outcome is ProbeOutcome.VERIFIED and not silent:
                return made(
                    TlsVerdict.TLS_VERIFIED,
                    DecisionReason.MTA_STS_ENFORCED,
                    f"{domain} requires verified TLS (MTA-STS enforce) and its mail servers meet it: {details}",
                )
            if worst.outcome is ProbeOutcome.VERIFIED:
                return made(
                    TlsVerdict.TLS_UNVERIFIED,
                    DecisionReason.NOT_ALL_SERVERS_ANSWERED,
                    f"{domain} requires verified TLS (MTA-STS enforce), but not all of its mail servers"
                    f" could be checked: {details}",
                    transient=True,
                )
            return made(
                TlsVerdict.NO_TLS,
                DecisionReason.MTA_STS_VIOLATION,
                f"{domain} requires verified TLS (MTA-STS enforce), but a mail server does not meet it: {details}",
            )
        if worst.outcome is ProbeOutcome.VERIFIED and not silent:
            return made(TlsVerdict.TLS_VERIFIED, DecisionReason.CERTIFICATE_VERIFIED, details + note)
        if worst.outcome is ProbeOutcome.VERIFIED:
            return made(
                TlsVerdict.TLS_UNVERIFIED,
                DecisionReason.NOT_ALL_SERVERS_ANSWERED,
                f"Not all mail servers of {domain} could be checked: {details}{note}",
                transient=True,
            )
        if worst.outcome is ProbeOutcome.UNVERIFIED:
            return made(
                TlsVerdict.TLS_UNVERIFIED,
                DecisionReason.CERTIFICATE_NOT_VERIFIED,
                details + note,
                transient=bool(silent),
            )
        reason = (
            DecisionReason.NO_STARTTLS if worst.outcome is ProbeOutcome.NO_STARTTLS else DecisionReason.STARTTLS_FAILED
        )
        return made(TlsVerdict.NO_TLS, reason, details + note)


def _preference_levels(records: list[MxRecord]) -> list[list[str]]:
    levels: dict[int, list[str]] = {}
    for record in sorted(records):
        try:
            host = normalize_domain(record.host)
        except ValueError:
            continue  # not a host name we would connect to
        level = levels.setdefault(record.preference, [])
        if host not in level:
            level.append(host)
    return [levels[preference] for preference in sorted(levels)]


# --- the cache and the service ------------------------------------------------------------------


@dataclass(frozen=True)
class TlsDecisionCache(TableStore):
    def get(self, domain: str) -> TlsDecision | None:
        """The cached decision, or None if there is none or it has expired."""
        with unavailable_on_outage("gateway"):
            item = self.table.get_item(Key={"pk": "TLS#" + domain}).get("Item")
        if not item or item.get("kind") != "tls_decision":
            return None
        decision = TlsDecision.from_item(item)
        return decision if decision.expires_at > clock.epoch_seconds() else None

    def put(self, decision: TlsDecision) -> None:
        with unavailable_on_outage("gateway"):
            self.table.put_item(Item=decision.to_item())


@dataclass(frozen=True)
class TlsDecisions:
    """Decisions per domain, taken from the cache while fresh."""

    decider: TlsDecider
    cache: TlsDecisionCache

    def for_domain(self, domain: str, *, refresh: bool = False) -> TlsDecision:
        try:
            key = normalize_domain(domain)
        except ValueError:
            return self.decider.decide(domain)  # an invalid domain: decided, never cached
        if not refresh:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        decision = self.decider.decide(key)
        self.cache.put(decision)
        return decision

    def for_address(self, address: str, *, refresh: bool = False) -> TlsDecision:
        return self.for_domain(address.rpartition("@")[2], refresh=refresh)

    def cached(self, domain: str) -> TlsDecision | None:
        """What associates see: the current cached decision, without probing."""
        try:
            return self.cache.get(normalize_domain(domain))
        except ValueError:
            return None


def from_settings(settings: Settings, *, local_hostname: str | None = None) -> TlsDecisions:
    """The deployed wiring: system DNS resolver and trust store, SMTP port 25, HTTPS port 443."""
    region = settings.region
    helo = local_hostname or settings.mail_from.rpartition("@")[2] or "localhost"
    decider = TlsDecider(
        DnsPythonLookup(),
        StartTlsProbe(local_hostname=helo),
        MtaStsLookup(DnsPythonLookup(), HttpsPolicyFetcher()),
        ttl_seconds=settings.tls_cache_seconds,
    )
    return TlsDecisions(decider, TlsDecisionCache(lambda: aws_clients.dynamodb_table(settings.gateway_table, region)))
