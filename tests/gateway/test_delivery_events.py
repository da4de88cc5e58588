"""SES delivery events: a bounce of a TLS-required send falls back to a pickup link, exactly once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Gateway, RecordFailed
from tests.support import HARMLESS, WebClient, audit_records, mail_text, mime, sent_mail


def tls_send(gateway: Gateway, to: str = "bob@good.test") -> dict[str, str]:
    gateway.inbound(mime(to, body=HARMLESS))
    (request,) = gateway.sent(configuration_set=gateway.tls_set)
    tags = {t["Name"]: t["Value"] for t in request["EmailTags"]}
    return {"thread_id": tags["thread_id"], "seq": tags["seq"], "ses_id": "ses-out-1", "to": to}


def ses_event(kind: str, sent: dict[str, str], **details: Any) -> str:
    mail = {
        "messageId": sent["ses_id"],
        "destination": [sent["to"]],
        "tags": {"thread_id": [sent["thread_id"]], "seq": [sent["seq"]]},
    }
    return json.dumps({"eventType": kind, "mail": mail, **details})


def bounce(sent: dict[str, str]) -> str:
    return ses_event(
        "Bounce",
        sent,
        bounce={
            "bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": sent["to"], "diagnosticCode": "TLS"}],
        },
    )


def pickup_mails_to(address: str) -> list[Any]:
    return [m for m in sent_mail() if m["To"].addresses[0].addr_spec == address and "/p/" in mail_text(m)]


def test_a_bounce_falls_back_to_a_pickup_link(gateway: Gateway, associate_web: WebClient) -> None:
    sent = tls_send(gateway)
    assert pickup_mails_to("bob@good.test") == []
    result = gateway.deliver("handle_delivery_events", bounce(sent))
    assert result == {"done": ["pickup_sent"]}
    (notification,) = pickup_mails_to("bob@good.test")
    assert HARMLESS not in notification.as_string()
    (delivery,) = associate_web.get(f"/api/threads/{sent['thread_id']}").json["deliveries"]
    assert delivery["state"] == "bounced" and delivery["reason"] == "pickup_sent"
    records = audit_records(gateway.stack.client("s3"), gateway.stack.audit_bucket)
    bounced = [r for r in records if r["event"] == "message.bounced"]
    assert bounced[-1]["thread_id"] == sent["thread_id"] and bounced[-1]["reason"] == "permanent"


def test_the_same_bounce_twice_sends_one_pickup_link(gateway: Gateway, associate: Any) -> None:
    sent = tls_send(gateway)
    gateway.deliver("handle_delivery_events", bounce(sent))
    assert gateway.deliver("handle_delivery_events", bounce(sent)) == {"done": ["skipped"]}
    assert len(pickup_mails_to("bob@good.test")) == 1


def test_a_delivery_event_confirms_the_tls_delivery(gateway: Gateway, associate_web: WebClient) -> None:
    sent = tls_send(gateway)
    result = gateway.deliver(
        "handle_delivery_events", ses_event("Delivery", sent, delivery={"recipients": [sent["to"]]})
    )
    assert result == {"done": ["delivered"]}
    (delivery,) = associate_web.get(f"/api/threads/{sent['thread_id']}").json["deliveries"]
    assert delivery["state"] == "sent_tls" and delivery["reason"] == "delivered"


def test_a_late_delivery_event_does_not_undo_a_bounce(gateway: Gateway, associate_web: WebClient) -> None:
    sent = tls_send(gateway)
    gateway.deliver("handle_delivery_events", bounce(sent))
    gateway.deliver("handle_delivery_events", ses_event("Delivery", sent, delivery={"recipients": [sent["to"]]}))
    (delivery,) = associate_web.get(f"/api/threads/{sent['thread_id']}").json["deliveries"]
    assert delivery["state"] == "bounced"


def test_events_for_unknown_threads_or_people_do_nothing(gateway: Gateway, associate: Any) -> None:
    sent = tls_send(gateway)
    assert gateway.deliver("handle_delivery_events", bounce({**sent, "thread_id": "f" * 32})) == {"done": []}
    assert gateway.deliver("handle_delivery_events", bounce({**sent, "to": "stranger@good.test"})) == {
        "done": ["skipped"]
    }
    assert gateway.deliver("handle_delivery_events", "not json") == {"done": []}
    for misshapen in ("[1, 2]", '"text"', '{"mail": []}', '{"mail": {"messageId": "x", "tags": []}}'):
        assert gateway.deliver("handle_delivery_events", misshapen) == {"done": []}, misshapen
    assert pickup_mails_to("bob@good.test") == []


def test_a_pickup_link_ses_refused_after_a_bounce_fails_the_event_and_its_retry_sends_only_the_link(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.mail.notices import Notifier

    sent = tls_send(gateway)
    with monkeypatch.context() as refused:
        refused.setattr(Notifier, "pickup", lambda *args, **kwargs: False)
        with pytest.raises(RecordFailed):
            gateway.deliver("handle_delivery_events", bounce(sent))
    assert pickup_mails_to("bob@good.test") == []
    assert gateway.deliver("handle_delivery_events", bounce(sent)) == {"done": ["pickup_sent"]}
    assert len(pickup_mails_to("bob@good.test")) == 1
    records = audit_records(gateway.stack.client("s3"), gateway.stack.audit_bucket)
    assert len([r for r in records if r["event"] == "message.bounced"]) == 1
