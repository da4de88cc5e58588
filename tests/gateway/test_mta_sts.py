"""MTA-STS (RFC 8461): record and policy parsing, MX patterns, and fetching from a local HTTPS server."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.gateway.dns_lookup import DnsPythonLookup
from chalicelib.gateway.mta_sts import (
    FetchFailed,
    HttpsPolicyFetcher,
    InvalidPolicy,
    MtaStsLookup,
    MtaStsMode,
    MtaStsPolicy,
    PolicyStatus,
    mx_matches,
    parse_policy,
    parse_record,
)
from chalicelib.gateway.tls_probe import verifying_context

# --- parsing ------------------------------------------------------------------------------


def test_a_policy_is_parsed() -> None:
    text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 604800\r\n"
    assert parse_policy(text) == MtaStsPolicy(MtaStsMode.ENFORCE, ("mail.example.com", "*.example.net"), 604800)


def test_lf_line_ends_unknown_fields_and_repeated_fields() -> None:
    text = "version: STSv1\nmode:testing\nfuture_field: x\nmode: enforce\nmx: mx.example.com\nmax_age:86400\n"
    policy = parse_policy(text)
    assert (policy.mode, policy.max_age) == (MtaStsMode.TESTING, 86400)  # the first mode counts


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()


@pytest.mark.parametrize(
    "text",
    [
        "mode: enforce\nmx: a.example\nmax_age: 1\n",
        "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
        "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmx: a.example\n",
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: soon\n",
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
        "version: STSv1\nmode: enforce\nmax_age: 86400\n",
        "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 86400\n",
        "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n<html>\n",
    ],
    ids=[
        "no-version",
        "version-2",
        "unknown-mode",
        "no-max-age",
        "max-age-text",
        "max-age-negative",
        "max-age-too-long",
        "enforce-without-mx",
        "double-wildcard",
        "not-a-field",
    ],
)
def test_invalid_policies_are_refused(text: str) -> None:
    with pytest.raises(InvalidPolicy):
        parse_policy(text)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["v=STSv1; id=20160831085700Z;"], "20160831085700Z"),
        (["v=STSv1;id=abc"], "abc"),
        (["v=STSv1; id=abc; ext=1;"], "abc"),
        (["v=spf1 -all", "v=STSv1; id=abc;"], "abc"),  # other records are ignored
    ],
)
def test_the_txt_record_gives_the_policy_id(records: list[str], expected: str) -> None:
    assert parse_record(records) == expected


@pytest.mark.parametrize(
    "records",
    [
        ["v=STSv1; id=1;", "v=STSv1; id=2;"],
        ["v=STSv1;"],
        ["v=STSv1; id=" + "a" * 33 + ";"],
        ["v=STSv1; id=no-dashes;"],
        ["v=STSv1; id"],
        [],
    ],
)
def test_records_that_are_not_exactly_one_valid_stsv1_record_are_refused(records: list[str]) -> None:
    with pytest.raises(InvalidPolicy):
        parse_record(records)


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.com.", True),
        ("mail.example.com", "mail2.example.com", False),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "mx1.example.net", False),
        ("*.example.com", ".example.com", False),
        ("", "example.com", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, matches: bool) -> None:
    assert mx_matches(pattern, host) is matches


# --- fetching from the local HTTPS server -------------------------------------------------------


@pytest.fixture
def lookup(mail_peers: Any) -> MtaStsLookup:
    fetcher = HttpsPolicyFetcher(context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5)
    return MtaStsLookup(DnsPythonLookup(mail_peers.dns.resolver(), timeout=0.5), fetcher)


def test_an_enforce_policy_is_found(lookup: MtaStsLookup) -> None:
    found = lookup.lookup("enforce.test")
    assert found.status is PolicyStatus.FOUND and found.enforced
    assert found.policy == MtaStsPolicy(MtaStsMode.ENFORCE, ("mx.enforce.test",), 604800)
    assert found.policy_id == "20240611T000000"


def test_a_testing_policy_is_found_but_not_enforced(lookup: MtaStsLookup) -> None:
    found = lookup.lookup("testing.test")
    assert found.status is PolicyStatus.FOUND and not found.enforced


@pytest.mark.parametrize(
    ("domain", "status"),
    [
        ("good.test", PolicyStatus.NOT_PUBLISHED),
        ("sts-two-records.test", PolicyStatus.INVALID_RECORD),
        ("sts-missing.test", PolicyStatus.FETCH_FAILED),  # 404
        ("sts-html.test", PolicyStatus.FETCH_FAILED),  # not text/plain
        ("sts-huge.test", PolicyStatus.FETCH_FAILED),  # over 64 KiB
        ("sts-badcert.test", PolicyStatus.FETCH_FAILED),  # certificate does not name mta-sts.<domain>
        ("sts-invalid.test", PolicyStatus.INVALID_POLICY),
        ("servfail.test", PolicyStatus.DNS_ERROR),
    ],
)
def test_no_usable_policy_says_why(lookup: MtaStsLookup, domain: str, status: PolicyStatus) -> None:
    found = lookup.lookup(domain)
    assert (found.status, found.policy, found.enforced) == (status, None, False)


def test_redirects_are_not_followed(mail_peers: Any, lookup: MtaStsLookup) -> None:
    before = len(mail_peers.https.requests)
    assert lookup.lookup("sts-redirect.test").status is PolicyStatus.FETCH_FAILED
    assert mail_peers.https.requests[before:] == [("mta-sts.sts-redirect.test", "/.well-known/mta-sts.txt")]


def test_a_policy_from_a_server_the_fetcher_does_not_trust_is_not_read(mail_peers: Any) -> None:
    before = len(mail_peers.https.requests)
    fetcher = HttpsPolicyFetcher(context=verifying_context(), connector=mail_peers.connector, timeout=5)
    with pytest.raises(FetchFailed):
        fetcher.fetch("enforce.test")
    assert mail_peers.https.requests[before:] == []  # the handshake failed: no request was sent


def test_fetch_reaches_the_policy_host_by_name(mail_peers: Any) -> None:
    fetcher = HttpsPolicyFetcher(context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5)
    assert fetcher.fetch("wild.test").startswith("version: STSv1\r\nmode: enforce\r\nmx: *.wild.test")
    assert mail_peers.https.requests[-1] == ("mta-sts.wild.test", "/.well-known/mta-sts.txt")


def test_a_policy_server_that_drips_forever_is_cut_off_at_the_deadline(mail_peers: Any) -> None:
    from tests.mail_peers import DRIP_OUTCOMES, outcome_of_last_drip

    before = len(DRIP_OUTCOMES)
    fetcher = HttpsPolicyFetcher(
        context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5, deadline=0.5
    )
    with pytest.raises(FetchFailed, match="took too long"):
        fetcher.fetch("sts-drip.test")
    assert outcome_of_last_drip(before) == "client_hung_up"
