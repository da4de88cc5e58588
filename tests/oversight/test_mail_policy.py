"""Associates' oversight pages: the cached TLS decision per recipient domain with its reason, and the
domain filter's strikes and recent blocks. Partners may see neither."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import aws_clients, clock
from chalicelib.gateway.tls_decision import DecisionReason, TlsDecision, TlsDecisionCache, TlsVerdict
from tests.conftest import Conversation
from tests.support import WebClient, audit_records


def cache_decision(stack: Any, domain: str, verdict: TlsVerdict, reason: DecisionReason, detail: str, ttl: int) -> None:
    now = clock.epoch_seconds()
    table = lambda: aws_clients.dynamodb_table(stack.env["SEALPOST_GATEWAY_TABLE"], "us-east-1")  # noqa: E731
    TlsDecisionCache(table).put(
        TlsDecision(domain, verdict, reason, detail, ("mx." + domain,), "enforce", False, now - 60, now + ttl)
    )


@pytest.fixture
def decisions(stack: Any) -> None:
    cache_decision(
        stack, "verified.example", TlsVerdict.TLS_VERIFIED, DecisionReason.MTA_STS_ENFORCED, "Policy met.", 3600
    )
    cache_decision(stack, "plain.example", TlsVerdict.NO_TLS, DecisionReason.NO_STARTTLS, "No STARTTLS offered.", 3600)
    cache_decision(stack, "stale.example", TlsVerdict.TLS_VERIFIED, DecisionReason.CERTIFICATE_VERIFIED, "Old.", -1)


def test_associates_see_each_cached_decision_with_its_reason(associate_web: WebClient, decisions: None) -> None:
    page = associate_web.get("/tls")
    assert page.status == 200
    text = page.text
    assert text.index("plain.example") < text.index("verified.example")
    assert "No TLS: pickup link" in text and "No STARTTLS" in text and "No STARTTLS offered." in text
    assert "TLS, verified" in text and "MTA-STS enforced" in text and "MTA-STS: enforce" in text
    assert "mx.plain.example" in text
    assert "stale.example" not in text  # expired: the gateway decides again before it sends


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("plain.example", "<strong>plain.example</strong>: No TLS: pickup link (No STARTTLS)."),
        ("Someone@Verified.Example", "<strong>verified.example</strong>: TLS, verified (MTA-STS enforced)."),
        ("unknown.example", "No decision is cached for this domain."),
    ],
)
def test_a_domain_or_address_can_be_looked_up(
    associate_web: WebClient, decisions: None, asked: str, expected: str
) -> None:
    page = associate_web.get("/tls?domain=" + asked.replace("@", "%40"))
    assert page.status == 200 and expected in page.text


def test_a_lookup_that_is_not_a_domain_is_a_400_tied_to_its_field(associate_web: WebClient, stack: Any) -> None:
    page = associate_web.get("/tls?domain=not%20a%20domain")
    assert page.status == 400
    assert 'id="domain-error"' in page.text and 'aria-invalid="true"' in page.text
    assert 'href="#domain"' in page.text


def test_a_domain_filter_block_shows_the_partner_strikes_and_domains_but_not_the_address(
    conversation: Conversation, stack: Any
) -> None:
    blocked = conversation.partner.post(
        "/api/threads",
        json_body={"recipients": ["secret.person@mail.example"], "subject": "s", "text": "t"},
    )
    assert blocked.status == 403
    page = conversation.associate.get("/domain-filter")
    assert page.status == 200
    assert conversation.partner_username in page.text
    assert "1 of 3" in page.text and "1 at mail.example" in page.text and "Strike 1 of 3" in page.text
    assert "secret.person" not in page.text
    home = conversation.associate.get("/accounts")
    assert '<a href="/domain-filter">1</a>' in home.text


def test_a_partner_sees_neither_oversight_page_and_the_attempt_is_audited(
    conversation: Conversation, stack: Any
) -> None:
    for path in ("/tls", "/domain-filter", "/tls?domain=plain.example"):
        page = conversation.partner.get(path)
        assert page.status == 403 and "Only associates" in page.text
    denied = [
        r
        for r in audit_records(stack.client("s3"), stack.audit_bucket)
        if r["event"] == "access.denied" and r["reason"] == "associate_only"
    ]
    assert {r["detail"]["action"] for r in denied} == {"tls_decisions", "domain_filter"}


def test_the_thread_page_shows_each_recipients_delivery_state(conversation: Conversation, stack: Any) -> None:
    path = f"/threads/{conversation.thread_id}"
    assert 'data-state="awaiting_pickup"' in conversation.associate.get(path).text
    conversation.thread()  # the partner reads it
    assert 'data-state="opened"' in conversation.associate.get(path).text
    conversation.associate.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "More."})
    assert 'data-state="awaiting_pickup"' in conversation.associate.get(path).text
    conversation.partner.post(f"/api/threads/{conversation.thread_id}/messages", json_body={"text": "Answer."})
    page = conversation.associate.get(path).text
    assert 'data-state="replied"' in page
    inbox = conversation.associate.get("/home").text
    assert f'{conversation.partner_username}</span>: <span class="badge badge-good" data-state="replied"' in inbox
    assert "Delivery" not in conversation.partner.get(path).text.split("<main")[1].split("Reply securely")[0]
