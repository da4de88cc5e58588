"""`sealpost-admin redrive`: a record the router gave up on lands in the dead-letter queue (what the
DLQ alarm watches) and, once the cause is fixed, the command sends it back and it is routed once.

The queues are the stack's own (provisioned from infra/template.yaml on moto, with their
RedrivePolicy); ``poll`` plays Lambda's SQS event source: receive one record, hand it to the
function as an SQS event, delete it when the function reports no failure, else make it visible
again at once (instead of waiting out the visibility timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.messaging.pickup import PickupService
from tests.conftest import CliRun, Gateway
from tests.support import HARMLESS, audit_events, mail_text, mime, sent_mail


def queue_url(gateway: Gateway, name: str) -> str:
    return str(
        gateway.stack.client("sqs").get_queue_url(QueueName=f"{gateway.stack.provisioned.stack_name}-{name}")[
            "QueueUrl"
        ]
    )


def depth(gateway: Gateway, name: str) -> int:
    """ApproximateNumberOfMessagesVisible, the metric the dead-letter alarms watch."""
    attributes = gateway.stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(gateway, name), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def poll(gateway: Gateway, name: str, function: str) -> str:
    sqs = gateway.stack.client("sqs")
    url = queue_url(gateway, name)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages", [])
    if not received:
        return "empty"
    (record,) = received
    event = {
        "Records": [
            {
                "messageId": record["MessageId"],
                "receiptHandle": record["ReceiptHandle"],
                "body": record["Body"],
                "attributes": record.get("Attributes", {}),
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
                "awsRegion": "us-east-1",
            }
        ]
    }
    payload = gateway.client.lambda_.invoke(function, event).payload
    if payload["batchItemFailures"]:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"], VisibilityTimeout=0)
        return "failed"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"])
    return "done"


def test_a_mail_that_fails_every_receive_lands_in_the_dlq_and_the_redrive_routes_it_once(
    gateway: Gateway, associate: Any, monkeypatch: pytest.MonkeyPatch, admin_cli: Callable[..., CliRun]
) -> None:
    sqs = gateway.stack.client("sqs")
    notification = gateway.stored(mime("carol@plain.test", body=HARMLESS), ses_id="ses-parked")
    sqs.send_message(QueueUrl=queue_url(gateway, "inbound-mail"), MessageBody=notification)
    with monkeypatch.context() as broken:
        broken.setattr(PickupService, "offer", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("mail is down")))
        outcomes = [poll(gateway, "inbound-mail", "route_inbound_mail") for _ in range(6)]
    # maxReceiveCount 5: five failed receives, then SQS moves the record instead of handing it out.
    assert outcomes == ["failed"] * 5 + ["empty"]
    assert depth(gateway, "inbound-mail-dlq") == 1 and depth(gateway, "inbound-mail") == 0
    assert [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "carol@plain.test"] == []

    waiting = admin_cli("redrive", "inbound-mail")
    assert waiting.code == 0 and "1 records wait" in waiting.out and depth(gateway, "inbound-mail-dlq") == 1
    moved = admin_cli("redrive", "inbound-mail", "--yes")
    assert moved.code == 0 and "Sent 1 records" in moved.out
    assert "carol" not in moved.out + waiting.out  # ids and counts only
    assert depth(gateway, "inbound-mail-dlq") == 0
    (record,) = audit_events(gateway.stack, "admin.queue_redriven")
    assert record["detail"]["queue"] == "inbound-mail" and str(record["detail"]["waiting"]) == "1"

    assert poll(gateway, "inbound-mail", "route_inbound_mail") == "done"
    assert poll(gateway, "inbound-mail", "route_inbound_mail") == "empty"
    notices = [m for m in sent_mail() if m["To"].addresses[0].addr_spec == "carol@plain.test" and "/p/" in mail_text(m)]
    assert len(notices) == 1
    assert len(audit_events(gateway.stack, "thread.created")) == 1

    # Redriving the same record again (a copy left by a crash) changes nothing.
    sqs.send_message(QueueUrl=queue_url(gateway, "inbound-mail"), MessageBody=notification)
    assert poll(gateway, "inbound-mail", "route_inbound_mail") == "done"
    assert len([m for m in sent_mail() if m["To"].addresses[0].addr_spec == "carol@plain.test"]) == 1


def test_redrive_moves_at_most_max_and_names_an_unknown_queue(
    gateway: Gateway, admin_cli: Callable[..., CliRun], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = gateway.stack.client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url(gateway, "delivery-events-dlq"), MessageBody=f"event {n}")
    assert admin_cli("redrive", "delivery-events", "--yes", "--max", "2").out.startswith("Sent 2 records")
    assert depth(gateway, "delivery-events-dlq") == 1 and depth(gateway, "delivery-events") == 2
    unknown = admin_cli("redrive", "outbound")
    assert unknown.code == 2 and "invalid choice: 'outbound'" in capsys.readouterr().err
    for bad in ("0", "-1", "two"):
        assert admin_cli("redrive", "delivery-events", "--yes", "--max", bad).code == 2
        assert "not a whole number of 1 or more" in capsys.readouterr().err
    assert depth(gateway, "delivery-events-dlq") == 1  # nothing moved by the refused commands
