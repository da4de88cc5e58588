"""The main flows, logged exactly as Lambda's Python runtime writes them (its own JSON log setup,
tests/lambda_logs.py): the warnings that matter are there with their fields, the contract's metrics
are there as EMF lines, and no line holds a subject, body, patient name, password, file name,
session token or link token used in the flows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from chalicelib import clock
from tests.conftest import Gateway, register_from_invitation
from tests.lambda_logs import lambda_logging
from tests.support import DEMO_PASSWORD, PORTAL_URL, mail_text, mime, sent_mail

SUBJECT = "Zyxwvut claim for Quenby Marchetti-Oyelaran"
TEXT = "Biopsy findings of Quenby Marchetti-Oyelaran: nodule 14mm, refer onward."
PATIENT = "Marchetti-Oyelaran"
PASSWORD = "velvet turbine gazebo 8841 quietly"
WRONG = "wrong horse marimba 5512 loudly"
FILE_NAME = "oyelaran-pathology-9931.pdf"
MAIL_SUBJECT = "Inbound plover dossier 77231"
MAIL_BODY = "Plover dossier text 77231 for the clinic."


def link_tokens() -> set[str]:
    found = set()
    for mail in sent_mail():
        found.update(re.findall(re.escape(PORTAL_URL) + r"/[a-z]+/([A-Za-z0-9_-]{43})", mail_text(mail)))
    return found


def test_the_flows_log_json_with_their_ids_and_metrics_and_never_a_needle(
    gateway: Gateway, associate: Any, new_browser: Any, kms_fault: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lambda_logging(monkeypatch, function="sealpost-test-APIHandler") as sink:
        staff = new_browser()
        assert staff.sign_in(associate.username, DEMO_PASSWORD).status == 200
        sent = staff.post(
            "/api/threads", json_body={"recipients": ["quinn@clinic.example"], "subject": SUBJECT, "text": TEXT}
        )
        assert sent.status == 201, sent.text
        partner = new_browser()
        username = register_from_invitation(partner, "quinn@clinic.example", PASSWORD)
        assert partner.get(f"/api/threads/{sent.json['thread']['thread_id']}").status == 200
        guesser = new_browser()
        for _ in range(3):
            guesser.sign_in(username, WRONG)
        # inbound mail: one routed (pickup notice to a domain without TLS), one refused
        gateway.inbound(
            mime("carol@plain.test", subject=MAIL_SUBJECT, body=MAIL_BODY, attachment=(FILE_NAME, b"%PDF-1.4 plover")),
            ses_id="ses-routed-1",
        )
        refused = gateway.inbound(
            mime("bob@good.test", sender="Mallory <mallory@evil.test>", subject=MAIL_SUBJECT),
            source="mallory@evil.test",
            ses_id="ses-refused-1",
        )
        assert refused["outcome"] == "refused"
        # KMS throttled: the edge answers 503 and warns
        kms_fault("throttle")
        busy = staff.post(
            "/api/threads", json_body={"recipients": ["quinn@clinic.example"], "subject": SUBJECT, "text": TEXT}
        )
        assert busy.status == 503, busy.text
        # the hourly digests, then a hidden digest the next run reports as tampering
        digests = gateway.stack.services().audit_digests
        start = clock.now()
        with time_machine.travel(start + timedelta(hours=2), tick=False):
            written = digests.write_due(clock.now())
        assert written
        with time_machine.travel(start + timedelta(hours=2, minutes=30), tick=False):
            gateway.stack.client("s3").delete_object(Bucket=gateway.stack.audit_bucket, Key=written[-1].key)
        with time_machine.travel(start + timedelta(hours=3), tick=False):
            digests.write_due(clock.now())
    lines = sink.lines
    assert len(lines) >= 15, f"logging is not reaching the runtime's handler: {len(lines)} lines"

    # the warnings that matter, with their fields
    (unavailable,) = [x for x in lines if x["message"] == "unavailable"]
    assert unavailable["level"] == "WARNING" and unavailable["logger"] == "chalicelib.web.http.middleware"
    assert unavailable["status"] == 503 and unavailable["error"] == "EncryptionUnavailable"
    assert unavailable["request_id"] and unavailable["requestId"] and unavailable["function"]
    tamper = [x for x in lines if x["message"] == "audit tampering detected"]
    assert tamper and tamper[0]["reason"] == "digest_removed" and tamper[0]["level"] == "ERROR"

    # the metrics, as EMF at the top of the line
    def metric(name: str) -> list[dict[str, Any]]:
        return [x for x in lines if "_aws" in x and name in x]

    for name in (
        "SignInSucceeded",
        "SignInFailed",
        "AccountLocked",
        "MessageSent",
        "PickupNoticeSent",
        "MailRefused",
        "TamperDetected",
        "DigestWritten",
    ):
        assert metric(name), f"no {name} metric line"
    assert len(metric("SignInFailed")) == 3
    assert metric("SignInFailed")[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Sealpost"
    (mail_refused,) = metric("MailRefused")
    assert mail_refused["ses_message_id"] == "ses-refused-1"  # the queue handler's context reaches the line
    assert all(m["request_id"] for m in metric("SignInSucceeded"))

    # no needle in any line
    needles = {
        SUBJECT,
        TEXT,
        PATIENT,
        "Quenby",
        PASSWORD,
        WRONG,
        DEMO_PASSWORD,
        FILE_NAME,
        "oyelaran",
        MAIL_SUBJECT,
        MAIL_BODY,
        "plover",
        "77231",
    }
    needles |= link_tokens() | {v for b in (staff, partner) for v in b.cookies.values() if len(v) >= 16}
    assert len(needles) > 15
    for text, _ in sink.frames:
        lowered = text.lower()
        leaked = [n for n in needles if n.lower() in lowered]
        assert not leaked, f"{leaked} in {text}"
