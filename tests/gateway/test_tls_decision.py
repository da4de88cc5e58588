"""The TLS decision per recipient domain, against real DNS, SMTP and HTTPS peers, and its DynamoDB cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import time_machine

from chalicelib import aws_clients, clock
from chalicelib.gateway.dns_lookup import DnsError, DnsErrorKind, DnsPythonLookup, MxRecord
from chalicelib.gateway.mta_sts import HttpsPolicyFetcher, MtaStsLookup, PolicyLookup, PolicyStatus
from chalicelib.gateway.tls_decision import (
    DecisionReason,
    TlsDecider,
    TlsDecision,
    TlsDecisionCache,
    TlsDecisions,
    TlsVerdict,
    from_settings,
)
from chalicelib.gateway.tls_probe import ProbeOutcome, ProbeResult, StartTlsProbe
from chalicelib.settings import Settings

VERIFIED, UNVERIFIED, NO_TLS = TlsVerdict.TLS_VERIFIED, TlsVerdict.TLS_UNVERIFIED, TlsVerdict.NO_TLS
R = DecisionReason
DAY = 24 * 3600


@dataclass
class CountingProbe:
    inner: Any
    hosts: list[str] = field(default_factory=list)

    def probe(self, host: str) -> ProbeResult:
        self.hosts.append(host)
        result: ProbeResult = self.inner.probe(host)
        return result


def decider_for(peers: Any, **kwargs: Any) -> tuple[TlsDecider, CountingProbe]:
    dns = DnsPythonLookup(peers.dns.resolver(), timeout=0.5)
    probe = CountingProbe(StartTlsProbe(context=peers.client_context(), connector=peers.connector, timeout=5))
    fetcher = HttpsPolicyFetcher(context=peers.client_context(), connector=peers.connector, timeout=5)
    return TlsDecider(dns, probe, MtaStsLookup(dns, fetcher), **kwargs), probe


@pytest.fixture
def decider(mail_peers: Any) -> TlsDecider:
    return decider_for(mail_peers)[0]


@pytest.mark.parametrize(
    ("domain", "verdict", "reason", "transient"),
    [
        # certificates, without MTA-STS
        ("good.test", VERIFIED, R.CERTIFICATE_VERIFIED, False),
        ("implicit.test", VERIFIED, R.CERTIFICATE_VERIFIED, False),  # no MX: the domain itself
        ("mismatch.test", UNVERIFIED, R.CERTIFICATE_NOT_VERIFIED, False),
        ("untrusted.test", UNVERIFIED, R.CERTIFICATE_NOT_VERIFIED, False),
        ("plain.test", NO_TLS, R.NO_STARTTLS, False),
        ("refuses.test", NO_TLS, R.STARTTLS_FAILED, False),
        # several MX hosts: the best preference counts, all of its hosts must pass
        ("fallback.test", VERIFIED, R.CERTIFICATE_VERIFIED, False),  # best one down: the next preference
        ("backup-plain.test", VERIFIED, R.CERTIFICATE_VERIFIED, False),
        ("mixed.test", NO_TLS, R.NO_STARTTLS, False),
        ("half-mismatch.test", UNVERIFIED, R.CERTIFICATE_NOT_VERIFIED, False),
        ("half-down.test", UNVERIFIED, R.NOT_ALL_SERVERS_ANSWERED, True),
        # MTA-STS
        ("enforce.test", VERIFIED, R.MTA_STS_ENFORCED, False),
        ("wild.test", VERIFIED, R.MTA_STS_ENFORCED, False),
        ("enforce-partly.test", VERIFIED, R.MTA_STS_ENFORCED, False),  # the unlisted MX is skipped
        ("unlisted.test", NO_TLS, R.MTA_STS_VIOLATION, False),
        ("enforce-badcert.test", NO_TLS, R.MTA_STS_VIOLATION, False),
        ("enforce-plain.test", NO_TLS, R.MTA_STS_VIOLATION, False),
        ("testing.test", UNVERIFIED, R.CERTIFICATE_NOT_VERIFIED, False),
        ("sts-missing.test", VERIFIED, R.CERTIFICATE_VERIFIED, False),
        ("sts-badcert.test", NO_TLS, R.NO_STARTTLS, False),
        # nothing to talk to
        ("down.test", NO_TLS, R.UNREACHABLE, True),
        ("notsmtp.test", NO_TLS, R.UNREACHABLE, True),
        ("nullmx.test", NO_TLS, R.NO_MAIL_SERVER, False),
        ("nxdomain.test", NO_TLS, R.NO_SUCH_DOMAIN, False),
        ("servfail.test", NO_TLS, R.DNS_ERROR, True),
        ("silent.test", NO_TLS, R.DNS_ERROR, True),
        ("not a domain", NO_TLS, R.INVALID_DOMAIN, False),
    ],
)
def test_decisions(decider: TlsDecider, domain: str, verdict: TlsVerdict, reason: R, transient: bool) -> None:
    decision = decider.decide(domain)
    assert (decision.verdict, decision.reason, decision.transient) == (verdict, reason, transient), decision.detail
    assert decision.detail


def test_the_reason_is_readable_for_associates(decider: TlsDecider) -> None:
    enforced = decider.decide("enforce.test")
    assert enforced.detail.startswith("enforce.test requires verified TLS (MTA-STS enforce) and its mail servers meet")
    assert (enforced.mta_sts_mode, enforced.mx_hosts) == ("enforce", ("mx.enforce.test",))
    testing = decider.decide("testing.test")
    assert "does not name the mail server" in testing.detail and "testing mode" in testing.detail
    assert "could not be fetched over verified HTTPS" in decider.decide("sts-missing.test").detail
    assert decider.decide("notsmtp.test").detail == (
        "No mail server of notsmtp.test could be checked: mx.notsmtp.test does not accept mail now (554)."
    )


def test_time_to_live_default_transient_and_policy_max_age(mail_peers: Any) -> None:
    decider, _ = decider_for(mail_peers, ttl_seconds=DAY)
    with time_machine.travel("2024-06-11T10:00:00Z", tick=False):
        now = clock.epoch_seconds()
        assert decider.decide("good.test").expires_at == now + DAY
        assert decider.decide("down.test").expires_at == now + 15 * 60
        assert decider.decide("shortage.test").expires_at == now + 600  # the policy's max_age is shorter
        assert decider.decide("good.test").checked_at == now


def test_only_the_first_three_hosts_of_a_preference_are_probed() -> None:
    class FiveHosts:
        def mx(self, domain: str) -> list[MxRecord]:
            return [MxRecord(10, f"mx{i}.many.test") for i in range(5)]

        def txt(self, name: str) -> list[str]:
            return []

    @dataclass
    class Refusing:
        hosts: list[str] = field(default_factory=list)

        def probe(self, host: str) -> ProbeResult:
            self.hosts.append(host)
            return ProbeResult(host, ProbeOutcome.NO_STARTTLS, f"{host} does not offer encryption (STARTTLS)")

    class NoPolicy:
        def lookup(self, domain: str) -> PolicyLookup:
            return PolicyLookup(PolicyStatus.NOT_PUBLISHED)

    prober = Refusing()
    decision = TlsDecider(FiveHosts(), prober, NoPolicy()).decide("many.test")
    assert prober.hosts == ["mx0.many.test", "mx1.many.test", "mx2.many.test"]
    assert decision.verdict is NO_TLS


class _Dns:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def mx(self, domain: str) -> list[MxRecord]:
        if self.error:
            raise self.error
        return [MxRecord(10, "mx.odd.test")]

    def txt(self, name: str) -> list[str]:
        return []


class _Prober:
    def __init__(self, outcome: ProbeOutcome | Exception) -> None:
        self.outcome = outcome

    def probe(self, host: str) -> ProbeResult:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return ProbeResult(host, self.outcome, f"{host}: {self.outcome}")


class _Policy:
    def __init__(self, status: PolicyStatus = PolicyStatus.NOT_PUBLISHED) -> None:
        self.status = status

    def lookup(self, domain: str) -> PolicyLookup:
        return PolicyLookup(self.status)


@pytest.mark.parametrize(
    ("dns", "prober"),
    [
        (_Dns(RuntimeError("bug")), _Prober(ProbeOutcome.VERIFIED)),
        (_Dns(), _Prober(RuntimeError("bug"))),
        (_Dns(DnsError(DnsErrorKind.TEMPORARY)), _Prober(ProbeOutcome.VERIFIED)),
    ],
    ids=["dns-bug", "probe-bug", "dns-timeout"],
)
def test_errors_fail_closed_and_transient(dns: Any, prober: Any) -> None:
    decision = TlsDecider(dns, prober, _Policy()).decide("odd.test")
    assert decision.verdict is NO_TLS and decision.transient


def test_not_knowing_whether_a_policy_exists_makes_a_decision_transient() -> None:
    decision = TlsDecider(_Dns(), _Prober(ProbeOutcome.VERIFIED), _Policy(PolicyStatus.DNS_ERROR)).decide("odd.test")
    assert decision.verdict is VERIFIED and decision.transient
    assert "could not be looked up" in decision.detail


@pytest.mark.parametrize(
    ("verdict", "sensitive", "allowed"),
    [
        (VERIFIED, True, True),
        (VERIFIED, False, True),
        (UNVERIFIED, False, True),
        (UNVERIFIED, True, False),
        (NO_TLS, False, False),
        (NO_TLS, True, False),
    ],
)
def test_tls_delivery_is_permitted_by_verdict_and_content(verdict: TlsVerdict, sensitive: bool, allowed: bool) -> None:
    decision = TlsDecision("x.test", verdict, R.CERTIFICATE_VERIFIED, "d")
    assert decision.permits_tls_delivery(sensitive=sensitive) is allowed


# --- the cache in the gateway table ---------------------------------------------------------------


@pytest.fixture
def decisions(stack: Any, mail_peers: Any) -> tuple[TlsDecisions, CountingProbe, Any]:
    settings = Settings.from_env()
    table = stack.client("dynamodb")
    decider, probe = decider_for(mail_peers, ttl_seconds=settings.tls_cache_seconds)
    cache = TlsDecisionCache(lambda: aws_clients.dynamodb_table(settings.gateway_table, settings.region))
    return TlsDecisions(decider, cache), probe, (table, settings.gateway_table)


def test_a_decision_is_cached_for_a_day_then_decided_again(decisions: Any) -> None:
    service, probe, (ddb, table) = decisions
    with time_machine.travel("2024-06-11T10:00:00Z", tick=False) as traveller:
        first = service.for_domain("Good.Test")
        assert probe.hosts == ["mx.good.test"]
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "TLS#good.test"}})["Item"]
        assert item["verdict"] == {"S": "tls_verified"}
        assert int(item["expires_at"]["N"]) == clock.epoch_seconds() + DAY
        assert service.for_address("bob@good.test") == first and probe.hosts == ["mx.good.test"]
        traveller.shift(DAY - 1)
        assert service.for_domain("good.test") == first and len(probe.hosts) == 1
        traveller.shift(2)  # expired, though DynamoDB may not have deleted it yet
        again = service.for_domain("good.test")
        assert len(probe.hosts) == 2 and again.checked_at == first.checked_at + DAY + 1


def test_transient_decisions_are_looked_at_again_soon(decisions: Any) -> None:
    service, probe, _ = decisions
    with time_machine.travel("2024-06-11T10:00:00Z", tick=False) as traveller:
        assert service.for_domain("down.test").verdict is NO_TLS
        traveller.shift(15 * 60 + 1)
        service.for_domain("down.test")
        assert probe.hosts == ["mx.down.test", "mx.down.test"]


def test_refresh_decides_again_and_replaces_the_cached_decision(decisions: Any) -> None:
    service, probe, _ = decisions
    service.for_domain("enforce.test")
    refreshed = service.for_domain("enforce.test", refresh=True)
    assert probe.hosts == ["mx.enforce.test", "mx.enforce.test"]
    assert service.cached("enforce.test") == refreshed


def test_what_associates_see(decisions: Any) -> None:
    service, _, _ = decisions
    assert service.cached("mismatch.test") is None  # nothing probed yet
    service.for_domain("mismatch.test")
    view = service.cached("MISMATCH.test")
    assert view is not None
    public = view.public_view()
    assert public["verdict"] == "tls_unverified" and public["reason"] == "certificate_not_verified"
    assert public["detail"].startswith("mx.mismatch.test offers encryption (STARTTLS), but its certificate")
    assert public["checked_at"].endswith("Z") and public["mx_hosts"] == ["mx.mismatch.test"]
    assert service.cached("not a domain") is None


def test_an_invalid_domain_is_decided_but_never_stored(decisions: Any) -> None:
    service, _, (ddb, table) = decisions
    assert service.for_address("bob@-bad-.test").reason is R.INVALID_DOMAIN
    assert ddb.scan(TableName=table)["Items"] == []


def test_the_deployed_wiring_reads_the_settings(stack: Any) -> None:
    service = from_settings(Settings.from_env())
    assert service.cached("good.test") is None  # reads the gateway table; probes nothing
