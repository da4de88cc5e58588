"""Real-world mail of many kinds through the gateway router (issue 11, acceptance 2).

Each corpus mail (tests/gateway/mail_corpus.py: CPython's and enmime's test mail from their
Debian packages, and hand-written kinds no package ships) becomes an associate's mail to two
outside recipients, one whose domain takes verified TLS and one that gets a pickup link, and
goes through the SNS event into the router. Every mail must come back with a report, never
an exception: either routed, with the stored message reading back exactly as the standard
library reads the mail (text, HTML, each attachment's bytes), or refused with a notice mailed
to the sender and nothing mailed to anyone else.

One test per corpus source (a stack each): routing a mail costs well under a second, building
a stack more than one.
"""

from __future__ import annotations

import json
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Gateway
from tests.gateway.mail_corpus import SOURCES, Source, as_associates_mail, corpus, expected_reading

SENDER = "Alice Associate <alice@plan.example>"


def _moto_sent() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _mail_since(count: int) -> list[EmailMessage]:
    """The mail moto's SES accepted after the first ``count`` (parsing only those: the corpus sends many)."""
    parsed = [message_from_string(m.raw_data, policy=policy.default) for m in _moto_sent()[count:]]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def _route(gateway: Gateway, raw: bytes) -> dict[str, Any]:
    try:
        return gateway.inbound(raw)
    except Exception as exc:  # a crash is a failure of this mail, reported with the others
        return {"outcome": "crashed", "reason": f"{type(exc).__name__}: {exc}"}


def _threads(gateway: Gateway) -> set[str]:
    return {entry.thread_id for entry in gateway.stack.services().threads.inbox("alice@plan.example")}


def _stored(gateway: Gateway, thread_id: str) -> tuple[str, str | None, list[bytes]]:
    """The routed message as the portal reads it back: decrypted text, HTML and attachments."""
    services = gateway.stack.services()
    (record,) = services.threads.messages(thread_id)
    content = services.vault.content(record)
    files = [b"".join(services.vault.attachment(record, a)) for a in record.attachments]
    return content.text, content.html, files


def _problems(gateway: Gateway, path: Path, index: int) -> list[str]:
    recipients = [f"c{index}@good.test", f"c{index}@plain.test"]
    raw = as_associates_mail(path.read_bytes(), SENDER, [*recipients, gateway.stack.env["SEALPOST_GATEWAY_ADDRESS"]])
    mails_before, requests_before, threads_before = len(_moto_sent()), len(gateway.ses_requests), _threads(gateway)
    report = _route(gateway, raw)
    new_mail = _mail_since(mails_before)
    new_requests = gateway.ses_requests[requests_before:]
    if report.get("outcome") == "refused":
        notices = [m for m in new_mail if "not delivered" in str(m["Subject"])]
        problems = [] if notices else [f"refused ({report.get('reason')}) without a notice"]
        if [m for m in new_mail if m["To"].addresses[0].addr_spec != "alice@plan.example"]:
            problems.append("refused, yet mail went to someone other than the sender")
        return problems
    if report.get("outcome") != "routed":
        return [f"not routed: {report}"]
    problems = []
    destinations = json.dumps([r.get("Destination") for r in new_requests])
    if not all(address in destinations for address in recipients[:1]):
        problems.append("the verified-TLS recipient got nothing")
    if not [m for m in new_mail if m["To"].addresses[0].addr_spec == recipients[1]]:
        problems.append("the pickup recipient got no notice")
    new_threads = _threads(gateway) - threads_before
    if len(new_threads) != 1:
        return [*problems, f"routed into {len(new_threads)} new threads"]
    expected = expected_reading(raw)
    text, html, files = _stored(gateway, new_threads.pop())
    if text != (expected.text or ""):
        problems.append("stored text differs from the standard library's reading")
    if html != expected.html:
        problems.append("stored HTML differs from the standard library's reading")
    if files != [data for _, data in expected.attachments]:
        problems.append(f"stored attachments differ ({len(files)} stored, {len(expected.attachments)} expected)")
    return problems


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_every_corpus_mail_is_routed_and_reads_back_or_is_refused_with_a_notice(
    gateway: Gateway, associate: Any, source: Source
) -> None:
    failures: dict[str, list[str]] = {}
    for index, path in enumerate(corpus(source)):
        problems = _problems(gateway, path, index)
        if problems:
            failures[path.name] = problems
    assert failures == {}


def test_the_corpus_has_every_kind_the_issue_names() -> None:
    """Bounces, forwards, TNEF, S/MIME, calendar invitations, legacy charsets, 8-bit headers, broken MIME."""
    raws = [p.read_bytes().lower() for source in SOURCES for p in corpus(source)]
    kinds = {
        "bounce": b"message/delivery-status",
        "forward": b"message/rfc822",
        "tnef": b"application/ms-tnef",
        "s/mime": b"pkcs7-signature",
        "s/mime opaque": b"pkcs7-mime",
        "calendar": b"text/calendar",
        "iso-2022-jp": b"iso-2022-jp",
        "koi8-r": b"koi8-r",
        "windows-1252": b"windows-125",
        "big5": b"big5",
        "utf-7": b"utf-7",
    }
    assert {kind for kind, marker in kinds.items() if not any(marker in raw for raw in raws)} == set()
    assert any(any(byte > 0x7F for byte in raw.partition(b"\n\n")[0]) for raw in raws), "no 8-bit header"
    assert len(raws) >= 120


@pytest.mark.parametrize(
    ("sender", "outcome"),
    [
        ("=?utf-7?q?Alice_+2D0-_Associate?= <alice@plan.example>", "routed"),  # decodes to a lone surrogate
        ("Al\udcc3\udca9ce <alice@plan.example>", "routed"),  # raw 8-bit UTF-8 (written below as its bytes)
        ("Al\udce9ce <alice@plan.example>", "routed"),  # raw 8-bit Latin-1
        # A display name that decodes to a line break is a malformed From: refused, with a notice.
        ("=?utf-8?q?Alice=0D=0ABcc:_thief@evil.test?= <alice@plan.example>", "refused"),
    ],
    ids=["utf7", "8bit-utf8", "8bit-latin1", "encoded-crlf"],
)
def test_an_associates_odd_display_name_is_read_and_adds_no_recipient(
    gateway: Gateway, associate: Any, sender: str, outcome: str
) -> None:
    raw = (
        b"From: "
        + sender.encode("utf-8", "surrogateescape")
        + b"\r\nTo: bob@good.test, "
        + gateway.stack.env["SEALPOST_GATEWAY_ADDRESS"].encode()
        + b"\r\nSubject: Lab results\r\nContent-Type: text/plain\r\n\r\nSee portal.\r\n"
    )
    report = gateway.inbound(raw)
    assert report["outcome"] == outcome, report
    destinations = json.dumps([r.get("Destination") for r in gateway.sent()])
    assert "thief@evil.test" not in destinations
    if outcome == "routed":
        assert "bob@good.test" in destinations
    else:
        (notice,) = _mail_since(0)
        assert notice["To"].addresses[0].addr_spec == "alice@plan.example"
