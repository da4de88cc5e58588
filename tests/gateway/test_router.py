"""The email gateway end to end: raw MIME through the SNS event to TLS delivery or a pickup link.

The recipient domains are served by real DNS, SMTP and HTTPS peers on 127.0.0.1
(tests/mail_peers.py): good.test takes verified TLS, mismatch.test only unverified TLS,
plain.test no STARTTLS, enforce.test publishes an MTA-STS policy in enforce mode.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import Gateway
from tests.gateway import documents
from tests.support import (
    BODY,
    HARMLESS,
    PORTAL_URL,
    SUBJECT,
    WebClient,
    audit_events,
    audit_records,
    fetch_attachment,
    mail_text,
    mime,
    sent_mail,
)


def raw_of(request: dict[str, Any]) -> EmailMessage:
    data = request["Content"]["Raw"]["Data"]
    parsed = message_from_bytes(data if isinstance(data, bytes) else base64.b64decode(data), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def to_addresses(request: dict[str, Any]) -> list[str]:
    return list(request["Destination"]["ToAddresses"])


def pickup_mail_to(address: str) -> EmailMessage:
    return next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == address and "/p/" in mail_text(m))


def pickup_token(mail: EmailMessage) -> str:
    found = re.search(re.escape(PORTAL_URL) + r"/p/([A-Za-z0-9_-]{43})\s", mail_text(mail))
    assert found, "no pickup link"
    return found.group(1)


# --- routing each recipient ------------------------------------------------------------------


def test_a_domain_with_verified_tls_gets_the_mail_over_enforced_tls(gateway: Gateway, associate: Any) -> None:
    report = gateway.inbound(mime("bob@good.test", attachment=("mri-order.pdf", b"%PDF order")))
    assert report["outcome"] == "routed"
    (tls,) = gateway.sent(configuration_set=gateway.tls_set)
    assert to_addresses(tls) == ["bob@good.test"]
    delivered = raw_of(tls)
    assert delivered["Subject"] == f"[Secure] {SUBJECT}"
    assert BODY in delivered.get_body(preferencelist=("plain",)).get_content()
    (attachment,) = list(delivered.iter_attachments())
    assert attachment.get_filename() == "mri-order.pdf" and attachment.get_content() == b"%PDF order"
    assert str(delivered["From"].addresses[0].addr_spec) == "alice@plan.example"
    assert not [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "bob@good.test" and "/p/" in mail_text(m)]
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == "tls" and decided["detail"]["verdict"] == "tls_verified"
    assert "ssn:1" in decided["detail"]["sensitive"] and "536-22-8145" not in json.dumps(decided)
    assert audit_events(gateway.stack, "message.delivered_tls")


def test_the_message_is_retained_as_an_encrypted_thread_even_when_delivered_by_tls(
    gateway: Gateway, associate_web: WebClient
) -> None:
    gateway.inbound(mime("bob@good.test"))
    (thread,) = associate_web.get("/api/threads").json["threads"]
    view = associate_web.get(f"/api/threads/{thread['thread_id']}").json
    assert view["subject"] == SUBJECT and view["messages"][0]["text"].strip() == BODY
    (delivery,) = view["deliveries"]
    assert delivery["state"] == "sent_tls"


def test_a_domain_without_starttls_gets_a_notification_without_phi(gateway: Gateway, associate: Any) -> None:
    gateway.inbound(mime("carol@plain.test"))
    assert gateway.sent(configuration_set=gateway.tls_set) == []
    notification = pickup_mail_to("carol@plain.test")
    raw = notification.as_string()
    assert SUBJECT not in raw and "Maria" not in raw and "MRI" not in raw
    assert "Alice Associate" in mail_text(notification)
    assert re.search(r"SP-[0-9A-Z]{4}-[0-9A-Z]{4}", str(notification["Subject"]))
    assert re.search(re.escape(PORTAL_URL) + r"/p/[A-Za-z0-9_-]{43}\s", mail_text(notification))
    assert audit_events(gateway.stack, "message.tls_decided")[-1]["detail"]["route"] == "portal"


@pytest.mark.parametrize(
    ("recipient", "body", "route", "reason"),
    [
        ("dan@mismatch.test", HARMLESS, "tls", "certificate_not_verified"),  # unverified TLS, nothing sensitive
        ("dan@mismatch.test", BODY, "portal", "sensitive_data_needs_verified_tls"),
        ("erin@good.test", BODY, "tls", "certificate_verified"),  # sensitive, but verified
        ("fay@enforce.test", BODY, "tls", "mta_sts_enforced"),
        ("gus@enforce-plain.test", HARMLESS, "portal", "mta_sts_violation"),
        ("hal@nxdomain.test", HARMLESS, "portal", "no_such_domain"),
    ],
)
def test_each_recipient_is_routed_by_its_domains_tls_and_the_content(
    gateway: Gateway, associate: Any, recipient: str, body: str, route: str, reason: str
) -> None:
    gateway.inbound(mime(recipient, body=body))
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == route
    assert decided["reason"] == reason
    assert bool(gateway.sent(configuration_set=gateway.tls_set)) == (route == "tls")


def test_the_subject_keyword_always_forces_the_portal(gateway: Gateway, associate: Any) -> None:
    gateway.inbound(mime("bob@good.test", subject="[SECURE] quarterly numbers", body=HARMLESS))
    assert gateway.sent(configuration_set=gateway.tls_set) == []
    assert audit_events(gateway.stack, "message.tls_decided")[-1]["reason"] == "subject_keyword"
    pickup_mail_to("bob@good.test")


def test_the_portal_always_policy_never_uses_tls_delivery(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_DELIVERY_POLICY", "portal_always")
    gateway.inbound(mime("bob@good.test", body=HARMLESS))
    assert gateway.sent(configuration_set=gateway.tls_set) == []
    assert audit_events(gateway.stack, "message.tls_decided")[-1]["reason"] == "policy_portal_always"


def test_recipients_are_routed_one_by_one_and_internal_ones_directly(gateway: Gateway, associate: Any) -> None:
    raw = mime("bob@good.test, carol@plain.test", headers={"Cc": "colleague@plan.example"}, body=HARMLESS)
    gateway.inbound(raw)
    tls = [to_addresses(r) for r in gateway.sent(configuration_set=gateway.tls_set)]
    assert ["bob@good.test"] in tls and ["colleague@plan.example"] in tls
    pickup_mail_to("carol@plain.test")
    assert "gateway" not in json.dumps(tls)  # the gateway's own address is never a recipient


def test_bcc_recipients_are_routed_too(gateway: Gateway, associate: Any) -> None:
    gateway.inbound(mime("carol@plain.test", headers={"Bcc": "bob@good.test"}, body=HARMLESS))
    assert [to_addresses(r) for r in gateway.sent(configuration_set=gateway.tls_set)] == [["bob@good.test"]]


# --- the pickup path, end to end ------------------------------------------------------------


def test_pickup_registration_read_and_reply_reach_the_associate_by_tls_mail(
    gateway: Gateway, associate: Any, new_browser: Any
) -> None:
    gateway.inbound(mime("carol@plain.test", attachment=("mri-order.pdf", b"%PDF order")))
    token = pickup_token(pickup_mail_to("carol@plain.test"))
    browser = new_browser()
    page = browser.get(f"/p/{token}")
    assert page.status == 200 and "Choose your password" in page.text
    registered = browser.submit(
        f"/p/{token}",
        f"/p/{token}",
        {"password": "tangerine harbor lantern maps", "password_confirmation": "tangerine harbor lantern maps"},
    )
    registered = browser.through_second_factor(registered, "")  # MfaPolicy=required: the app is set up first
    assert registered.status == 303
    thread_path = registered.header("location").split("?")[0]
    welcome = next(m for m in reversed(sent_mail()) if "account is ready" in str(m["Subject"]))
    username = re.search(r"Your user name: (\S+)", mail_text(welcome)).group(1)
    read = browser.get(thread_path)
    assert SUBJECT in read.text and "mri-order.pdf" in read.text
    download = re.search(r'href="(/threads/[^"]+/attachments/[^"]+)"', read.text).group(1)
    assert fetch_attachment(browser, download, gateway.stack.services()) == b"%PDF order"
    replied = browser.submit(thread_path, thread_path + "/reply", {"text": "Approved on our side."})
    assert replied.status == 303
    to_associate = [
        r for r in gateway.sent(configuration_set=gateway.tls_set) if to_addresses(r) == ["alice@plan.example"]
    ]
    assert len(to_associate) == 1
    reply_mail = raw_of(to_associate[0])
    assert reply_mail["Subject"].startswith("[Secure]")
    assert "Approved on our side." in reply_mail.get_body(preferencelist=("plain",)).get_content()
    # The link was used up by registration; the user name signs in from now on.
    assert browser.get(f"/p/{token}").status == 410
    assert new_browser().sign_in(username, "tangerine harbor lantern maps").status == 200


def test_a_later_pickup_asks_for_user_name_and_password(gateway: Gateway, associate: Any, new_browser: Any) -> None:
    gateway.inbound(mime("carol@plain.test", body=HARMLESS))
    first = pickup_token(pickup_mail_to("carol@plain.test"))
    browser = new_browser()
    browser.through_second_factor(
        browser.submit(
            f"/p/{first}",
            f"/p/{first}",
            {"password": "tangerine harbor lantern maps", "password_confirmation": "tangerine harbor lantern maps"},
        ),
        "",
    )
    gateway.inbound(mime("carol@plain.test", subject="Second matter", body=HARMLESS))
    second = pickup_token(pickup_mail_to("carol@plain.test"))
    later = new_browser()
    page = later.get(f"/p/{second}")
    assert "Sign in to read your secure message" in page.text
    signed_in = later.through_second_factor(
        later.submit(f"/p/{second}", f"/p/{second}/signin", {"password": "tangerine harbor lantern maps"}),
        "carol@plain.test",
    )
    assert signed_in.status == 303 and "Second matter" in later.get(signed_in.header("location")).text


def test_an_answer_to_a_delivered_mail_joins_its_thread(gateway: Gateway, associate_web: WebClient) -> None:
    gateway.inbound(mime("carol@plain.test", body=HARMLESS))
    first_id = re.search(rb"Message-ID: (<[^>]+>)", mime("carol@plain.test", body=HARMLESS)).group(1).decode()
    gateway.inbound(
        mime("carol@plain.test", subject=f"Re: {SUBJECT}", body="A follow-up.", headers={"In-Reply-To": first_id})
    )
    (thread,) = associate_web.get("/api/threads").json["threads"]
    assert thread["interactions_label"] == "2 of 12"


def test_a_later_mail_cannot_take_over_a_message_id_already_recorded(
    gateway: Gateway, associate_web: WebClient
) -> None:
    first = mime("carol@plain.test", body=HARMLESS)
    gateway.inbound(first)
    first_id = re.search(rb"Message-ID: <[^>]+>", first).group(0)  # type: ignore[union-attr]
    # Another mail, a new thread, but carrying the first one's Message-ID.
    later = mime("carol@plain.test", subject="Another matter", body="Other text.")
    gateway.inbound(re.sub(rb"Message-ID: <[^>]+>", first_id, later))
    answer_to = first_id.split(b": ", 1)[1].decode()
    gateway.inbound(mime("carol@plain.test", subject="Re: x", body="A follow-up.", headers={"In-Reply-To": answer_to}))
    labels = sorted(thread["interactions_label"] for thread in associate_web.get("/api/threads").json["threads"])
    assert labels == ["1 of 12", "2 of 12"]  # the answer joined the first thread, not the later one
    first_thread = [
        t for t in associate_web.get("/api/threads").json["threads"] if t["interactions_label"] == "2 of 12"
    ]
    assert first_thread and "Another matter" not in json.dumps(first_thread)


# --- exactly once ------------------------------------------------------------------------------


def test_the_same_sns_event_twice_sends_nothing_twice(gateway: Gateway, associate_web: WebClient) -> None:
    raw = mime("bob@good.test, carol@plain.test", body=HARMLESS)
    assert gateway.inbound(raw, ses_id="ses-dup-1")["outcome"] == "routed"
    mails, requests = len(sent_mail()), len(gateway.ses_requests)
    assert gateway.inbound(raw, ses_id="ses-dup-1")["outcome"] == "duplicate"
    assert len(sent_mail()) == mails and len(gateway.ses_requests) == requests
    assert len(associate_web.get("/api/threads").json["threads"]) == 1


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("failed", ["spf", "dkim", "dmarc", "virus"])
def test_mail_that_fails_authentication_is_refused_and_delivered_nowhere(
    gateway: Gateway, associate: Any, failed: str
) -> None:
    report = gateway.inbound(mime("bob@good.test"), verdicts={failed: "FAIL"})
    assert report["outcome"] == "refused"
    assert gateway.ses_requests == [] and sent_mail() == []
    refused = audit_events(gateway.stack, "mail.sender_refused")[-1]
    assert refused["outcome"] == "denied"


def test_a_sender_outside_the_plan_is_refused(gateway: Gateway, associate: Any) -> None:
    raw = mime("bob@good.test", sender="Mallory <mallory@evil.test>")
    report = gateway.inbound(raw, source="mallory@evil.test")
    assert report == {"outcome": "refused", "reason": "sender_not_internal"}
    assert gateway.ses_requests == []
    assert audit_events(gateway.stack, "mail.sender_refused")[-1]["detail"] == {"sender_domain": "evil.test"}


def test_a_from_header_that_differs_from_the_authenticated_sender_is_refused(gateway: Gateway, associate: Any) -> None:
    raw = mime("bob@good.test", sender="Boss <boss@plan.example>")
    assert gateway.inbound(raw, source="alice@plan.example")["reason"] == "sender_mismatch"
    assert gateway.ses_requests == []


def test_malformed_mail_is_refused_with_a_notice_to_the_sender(gateway: Gateway, associate: Any) -> None:
    broken = (
        b"From: Alice <alice@plan.example>\r\nTo: bob@good.test\r\nSubject: x\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nno end'
    )
    report = gateway.inbound(broken)
    assert report["outcome"] == "refused"
    (notice,) = sent_mail()
    assert notice["To"].addresses[0].addr_spec == "alice@plan.example"
    assert "not delivered" in str(notice["Subject"])
    assert [r for r in gateway.ses_requests if to_addresses(r) != ["alice@plan.example"]] == []
    assert audit_events(gateway.stack, "mail.refused")


def test_oversized_mail_is_refused_before_it_is_read(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_MAX_MAIL_MB", "1")
    report = gateway.inbound(mime("bob@good.test", attachment=("big.pdf", b"x" * (1024 * 1024 + 10))))
    assert report == {"outcome": "refused", "reason": "too_large"}
    (notice,) = sent_mail()
    assert "larger than" in mail_text(notice).lower()


def test_a_subject_that_tries_header_injection_stays_one_line(gateway: Gateway, associate: Any) -> None:
    evil = "=?utf-8?q?Claim_status=0D=0ABcc:_thief@evil.test=0D=0AX-Injected:_yes?="
    gateway.inbound(
        mime("bob@good.test", subject="placeholder", body=HARMLESS).replace(
            b"Subject: placeholder", b"Subject: " + evil.encode()
        )
    )
    (request,) = gateway.sent(configuration_set=gateway.tls_set)
    assert to_addresses(request) == ["bob@good.test"]
    delivered = raw_of(request)
    assert delivered["Bcc"] is None and delivered["X-Injected"] is None
    assert "\n" not in delivered["Subject"] and "\r" not in delivered["Subject"]
    assert "thief@evil.test" not in json.dumps(request.get("Destination"))


def test_a_bare_cr_in_a_raw_subject_line_adds_no_recipient(gateway: Gateway, associate: Any) -> None:
    gateway.inbound(
        mime("bob@good.test", subject="placeholder", body=HARMLESS).replace(
            b"Subject: placeholder", b"Subject: Claim status\rBcc: thief@evil.test"
        )
    )
    sent = json.dumps([r.get("Destination") for r in gateway.sent()])
    assert "thief@evil.test" not in sent and "bob@good.test" in sent
    (request,) = gateway.sent(configuration_set=gateway.tls_set)
    assert raw_of(request)["Bcc"] is None


def test_utf7_mail_whose_text_decodes_to_lone_surrogates_routes_and_reads_back(
    gateway: Gateway, associate_web: WebClient
) -> None:
    head, _, _ = mime("carol@plain.test", subject="placeholder", body=HARMLESS).partition(b"\n\n")
    head = head.replace(b"Subject: placeholder", b"Subject: =?utf-7?q?Lab_+2D0-x?=")
    utf7 = head.replace(b'charset="utf-8"', b"charset=utf-7") + b"\n\nHello +2D0- there +ZeVnLIqe-\n"
    assert gateway.inbound(utf7)["outcome"] == "routed"
    (thread,) = associate_web.get("/api/threads").json["threads"]
    shown = associate_web.get(f"/api/threads/{thread['thread_id']}").json
    assert "Hello \ufffd there \u65e5\u672c\u8a9e" in json.dumps(shown, ensure_ascii=False)


# --- no PHI in notifications or logs -------------------------------------------------------------


def test_no_notification_or_log_line_holds_the_subject_or_body(
    gateway: Gateway, associate: Any, new_browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.inbound(mime("carol@plain.test"))
    gateway.inbound(mime("bob@good.test, dan@mismatch.test"))
    token = pickup_token(pickup_mail_to("carol@plain.test"))
    new_browser().get(f"/p/{token}/renew")
    for record in caplog.records:
        text = record.getMessage() + json.dumps(record.__dict__, default=str)
        for secret in (SUBJECT, "Maria", "536-22-8145", "MRI"):
            assert secret not in text, record.name
    # Content goes only over enforced TLS; everything else is a notification and must hold no PHI.
    content_deliveries = {str(raw_of(r)["Message-ID"]) for r in gateway.sent(configuration_set=gateway.tls_set)}
    assert content_deliveries
    for mail in sent_mail():
        if str(mail["Message-ID"]) in content_deliveries:
            continue
        for secret in (SUBJECT, "Maria", "536-22-8145", "MRI"):
            assert secret not in mail.as_string()


def test_an_associate_answers_a_partner_by_mail_through_the_gateway(
    gateway: Gateway, associate_web: WebClient, new_browser: Any
) -> None:
    gateway.inbound(mime("carol@plain.test", body=HARMLESS))
    token = pickup_token(pickup_mail_to("carol@plain.test"))
    partner = new_browser()
    registered = partner.submit(
        f"/p/{token}",
        f"/p/{token}",
        {"password": "tangerine harbor lantern maps", "password_confirmation": "tangerine harbor lantern maps"},
    )
    registered = partner.through_second_factor(registered, "")
    thread_path = registered.header("location").split("?")[0]
    partner.submit(thread_path, thread_path + "/reply", {"text": "Question from the clinic."})
    (to_associate,) = [
        r for r in gateway.sent(configuration_set=gateway.tls_set) if to_addresses(r) == ["alice@plan.example"]
    ]
    partner_mail = raw_of(to_associate)
    gateway_address = gateway.stack.env["SEALPOST_GATEWAY_ADDRESS"]
    assert partner_mail["Reply-To"].addresses[0].addr_spec == gateway_address
    assert partner_mail["From"].addresses[0].addr_spec == "no-reply@plan.example"
    # The associate presses Reply in their mail program: it goes to the gateway alone.
    answer = mime(
        gateway_address,
        subject="Re: " + str(partner_mail["Subject"]),
        body="Answer from the plan.",
        headers={"In-Reply-To": str(partner_mail["Message-ID"])},
    )
    assert gateway.inbound(answer)["outcome"] == "routed"
    thread = associate_web.get("/api/threads/" + thread_path.rsplit("/", 1)[1]).json
    assert thread["interactions_label"] == "3 of 12"
    assert thread["messages"][-1]["text"].strip() == "Answer from the plan."
    pickups = [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "carol@plain.test" and "/p/" in mail_text(m)]
    assert len(pickups) == 2


def test_mail_to_the_gateway_alone_that_answers_nothing_is_refused(gateway: Gateway, associate: Any) -> None:
    report = gateway.inbound(mime(gateway.stack.env["SEALPOST_GATEWAY_ADDRESS"], body=HARMLESS))
    assert report == {"outcome": "refused", "reason": "no_recipients"}


# --- content the scanner cannot read (R11, fail closed) ---------------------------------------------

UNREADABLE_MAILS: dict[str, dict[str, Any]] = {
    "unreadable_image": {"attachments": (("id-card.png", "image/png", documents.PNG),)},
    "unreadable_pdf": {"attachments": (("form.pdf", "application/pdf", b"%PDF-1.7 damaged"),)},
    "encrypted_file": {"attachments": (("locked.pdf", "application/pdf", documents.encrypted_pdf("Agenda")),)},
    "unreadable_archive": {"attachments": (("files.zip", "application/zip", documents.zip_of({"a.txt": b"x"})),)},
    "unreadable_tnef": {"attachments": (("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22\x00"),)},
    "smime_opaque": {"attachments": (("smime.p7m", "application/pkcs7-mime", b"\x30\x82\x01\x00"),)},
    "forwarded_message": {"forward": documents.forwarded("Nothing in here.")},
    "html_comment": {"html": "<p>The meeting moved to Thursday.</p><!-- note for the file -->"},
    "payment_card": {
        "attachments": (("card.docx", "application/octet-stream", documents.docx(["4111 1111 1111 1111"])),)
    },
    "ssn": {"attachments": (("SSN 536-22-8174.txt", "text/plain", b"The meeting moved to Thursday."),)},
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE_MAILS))
def test_unscannable_content_to_a_domain_with_unverified_tls_goes_by_pickup(
    gateway: Gateway, associate: Any, kind: str
) -> None:
    raw = documents.mail_with("dan@mismatch.test", **UNREADABLE_MAILS[kind])
    assert gateway.inbound(raw)["outcome"] == "routed"
    assert gateway.sent(configuration_set=gateway.tls_set) == []
    pickup_mail_to("dan@mismatch.test")
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == "portal"
    assert decided["reason"] == "sensitive_data_needs_verified_tls"
    assert f"{kind}:1" in decided["detail"]["sensitive"]
    recorded = json.dumps(audit_records(gateway.stack.client("s3"), gateway.stack.audit_bucket))
    for secret in ("id-card.png", "form.pdf", "winmail.dat", "536-22-8174", "note for the file"):
        assert secret not in recorded


def test_the_same_harmless_mail_without_unscannable_content_goes_over_unverified_tls(
    gateway: Gateway, associate: Any
) -> None:
    readable = documents.mail_with(
        "dan@mismatch.test", attachments=(("a.pdf", "application/pdf", documents.pdf("Agenda")),)
    )
    gateway.inbound(readable)
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == "tls" and decided["detail"]["sensitive"] == "none"
    assert [to_addresses(r) for r in gateway.sent(configuration_set=gateway.tls_set)] == [["dan@mismatch.test"]]


def test_unscannable_content_to_a_domain_with_verified_tls_still_goes_over_tls(
    gateway: Gateway, associate: Any
) -> None:
    gateway.inbound(documents.mail_with("bob@good.test", **UNREADABLE_MAILS["unreadable_image"]))
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == "tls" and "unreadable_image:1" in decided["detail"]["sensitive"]


def test_the_relaxed_setting_lets_unscannable_content_go_over_unverified_tls_but_not_real_findings(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALPOST_UNSCANNABLE_IS_SENSITIVE", "false")
    gateway.inbound(documents.mail_with("dan@mismatch.test", **UNREADABLE_MAILS["unreadable_image"]))
    assert audit_events(gateway.stack, "message.tls_decided")[-1]["detail"]["route"] == "tls"
    gateway.inbound(documents.mail_with("erin@mismatch.test", **UNREADABLE_MAILS["payment_card"]))
    decided = audit_events(gateway.stack, "message.tls_decided")[-1]
    assert decided["detail"]["route"] == "portal" and decided["reason"] == "sensitive_data_needs_verified_tls"
