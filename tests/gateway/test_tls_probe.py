"""STARTTLS probe against real SMTP servers (aiosmtpd) on 127.0.0.1 with certificates from a test CA."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.gateway.tls_probe import CertificateProblem, ProbeOutcome, StartTlsProbe, verifying_context
from tests.mail_peers import outcome_of_last_drip


@pytest.fixture
def probe(mail_peers: Any) -> StartTlsProbe:
    return StartTlsProbe(context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5)


def test_starttls_with_a_certificate_for_the_mx_name_is_verified(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.good.test")
    assert result.outcome is ProbeOutcome.VERIFIED and result.answered
    assert result.tls_version in ("TLSv1.2", "TLSv1.3") and result.certificate_problem is None
    assert result.detail == f"mx.good.test offers encryption (STARTTLS, {result.tls_version}) with a valid certificate"


def test_a_server_without_starttls(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.plain.test")
    assert (result.outcome, result.detail) == (
        ProbeOutcome.NO_STARTTLS,
        "mx.plain.test does not offer encryption (STARTTLS)",
    )


def test_a_certificate_for_another_name_is_unverified_tls(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.mismatch.test")
    assert result.outcome is ProbeOutcome.UNVERIFIED
    assert result.certificate_problem is CertificateProblem.NAME_MISMATCH
    assert "does not name the mail server" in result.detail


def test_a_certificate_from_an_untrusted_authority_is_unverified_tls(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.untrusted.test")
    assert (result.outcome, result.certificate_problem) == (ProbeOutcome.UNVERIFIED, CertificateProblem.UNTRUSTED)


def test_the_name_checked_is_the_mx_host_not_where_it_was_reached(mail_peers: Any) -> None:
    # The good server's certificate does not name mx.alias.test, though it is the same server.
    def alias(host: str, port: int) -> tuple[str, int]:
        return mail_peers.connector("mx.good.test" if host == "mx.alias.test" else host, port)

    probe = StartTlsProbe(context=mail_peers.client_context(), connector=alias, timeout=5)
    result = probe.probe("mx.alias.test")
    assert (result.outcome, result.certificate_problem) == (ProbeOutcome.UNVERIFIED, CertificateProblem.NAME_MISMATCH)


def test_trust_comes_from_the_given_context_only(mail_peers: Any) -> None:
    # The system trust store does not know the test CA.
    probe = StartTlsProbe(context=verifying_context(), connector=mail_peers.connector, timeout=5)
    result = probe.probe("mx.good.test")
    assert (result.outcome, result.certificate_problem) == (ProbeOutcome.UNVERIFIED, CertificateProblem.UNTRUSTED)


def test_starttls_offered_but_refused(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.refuses.test")
    assert (result.outcome, result.detail) == (ProbeOutcome.STARTTLS_FAILED, "mx.refuses.test refused STARTTLS (454)")


def test_a_server_that_does_not_speak_smtp(probe: StartTlsProbe) -> None:
    result = probe.probe("mx.notsmtp.test")
    assert result.outcome is ProbeOutcome.PROTOCOL_ERROR and not result.answered
    assert result.detail == "mx.notsmtp.test does not accept mail now (554)"


@pytest.mark.parametrize("host", ["mx.down.test", "mx.unknown.example"])
def test_unreachable_servers(probe: StartTlsProbe, host: str) -> None:
    result = probe.probe(host)
    assert (result.outcome, result.answered) == (ProbeOutcome.UNREACHABLE, False)


def test_a_connector_that_fails_unexpectedly_is_a_result_not_an_exception(mail_peers: Any) -> None:
    def broken(host: str, port: int) -> tuple[str, int]:
        raise RuntimeError("bug")

    result = StartTlsProbe(context=mail_peers.client_context(), connector=broken).probe("mx.good.test")
    assert result.outcome is ProbeOutcome.PROTOCOL_ERROR


def test_a_server_that_drips_forever_is_cut_off_at_the_deadline(mail_peers: Any) -> None:
    from tests.mail_peers import DRIP_OUTCOMES

    before = len(DRIP_OUTCOMES)
    probe = StartTlsProbe(context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5, deadline=0.5)
    result = probe.probe("mx.drip.test")
    assert (result.outcome, result.detail) == (ProbeOutcome.PROTOCOL_ERROR, "mx.drip.test took too long to answer")
    assert outcome_of_last_drip(before) == "client_hung_up"
