"""DNS look-ups through dnspython against a real DNS server on 127.0.0.1 (tests/mail_peers.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.gateway.dns_lookup import DnsError, DnsErrorKind, DnsPythonLookup, MxRecord, normalize_domain


@pytest.fixture
def lookup(mail_peers: Any) -> DnsPythonLookup:
    return DnsPythonLookup(mail_peers.dns.resolver(), timeout=0.5)


def test_mx_records_come_sorted_by_preference_in_lower_case(mail_peers: Any, lookup: DnsPythonLookup) -> None:
    mail_peers.dns.add("case.dns.test", "MX", "20 MX2.Case.DNS.test.", "5 Mx1.Case.Dns.Test.")
    assert lookup.mx("case.dns.test") == [MxRecord(5, "mx1.case.dns.test"), MxRecord(20, "mx2.case.dns.test")]
    assert lookup.mx("fallback.test") == [MxRecord(10, "mx1.fallback.test"), MxRecord(20, "mx2.fallback.test")]


def test_a_null_mx_is_an_empty_host(lookup: DnsPythonLookup) -> None:
    assert lookup.mx("nullmx.test") == [MxRecord(0, "")]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("nxdomain.test", DnsErrorKind.NO_SUCH_DOMAIN),
        ("mx.good.test", DnsErrorKind.NO_RECORDS),  # exists (A record) but has no MX
        ("servfail.test", DnsErrorKind.TEMPORARY),
        ("silent.test", DnsErrorKind.TEMPORARY),  # no answer within the timeout
    ],
)
def test_failures_are_reported_by_kind(lookup: DnsPythonLookup, name: str, kind: DnsErrorKind) -> None:
    with pytest.raises(DnsError) as caught:
        lookup.mx(name)
    assert caught.value.kind is kind


def test_txt_records_join_their_strings(mail_peers: Any, lookup: DnsPythonLookup) -> None:
    mail_peers.dns.add("_mta-sts.split.dns.test", "TXT", '"v=STSv1; " "id=abc123;"')
    assert lookup.txt("_mta-sts.split.dns.test") == ["v=STSv1; id=abc123;"]
    assert lookup.txt("_mta-sts.enforce.test") == ["v=STSv1; id=20240611T000000;"]


def test_no_txt_record_is_an_empty_list_but_a_failure_is_an_error(lookup: DnsPythonLookup) -> None:
    assert lookup.txt("_mta-sts.good.test") == []  # no such name
    assert lookup.txt("mx.good.test") == []  # name without TXT
    with pytest.raises(DnsError) as caught:
        lookup.txt("servfail.test")
    assert caught.value.kind is DnsErrorKind.TEMPORARY


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Clinic.Example.", "clinic.example"),
        (" lab.example ", "lab.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_domains_are_normalised(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", ".", "localhost", "a..example", "-a.example", "a-.example", "1.2.3.4", "a_b.example", "x" * 64 + ".example"],
)
def test_what_is_not_a_host_name_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a domain"):
        normalize_domain(raw)
    with pytest.raises(ValueError, match="not a domain"):
        normalize_domain(None)  # type: ignore[arg-type]
