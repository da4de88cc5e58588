"""The forgot-password worker (``send_account_mail``): it matches the queued request, mails the link
once per account and request under SQS's at-least-once delivery, and a mail SES refuses is retried
and, after five receives, waits in the dead-letter queue for ``sealpost-admin redrive``.

``poll`` plays Lambda's SQS event source on the stack's own queues (provisioned from
infra/template.yaml on moto, with their RedrivePolicy), as tests/commands/test_redrive.py does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from chalice.test import Client

from chalicelib.accounts.model import Account
from chalicelib.mail.mailer import Mailer, MailNotSent
from tests.conftest import CliRun, register_from_invitation, sqs_event
from tests.support import WebClient, audit_events, mail_text, sent_mail


def queue_url(stack: Any, name: str = "account-mail") -> str:
    return str(stack.client("sqs").get_queue_url(QueueName=f"{stack.provisioned.stack_name}-{name}")["QueueUrl"])


def depth(stack: Any, name: str) -> int:
    """ApproximateNumberOfMessagesVisible, the metric the dead-letter alarm watches."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(stack, name), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def poll(stack: Any, client: Client) -> str:
    """Receive one record and hand it to the function; delete it when it succeeded, else make it visible again."""
    sqs, url = stack.client("sqs"), queue_url(stack)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages", [])
    if not received:
        return "empty"
    payload = client.lambda_.invoke("send_account_mail", sqs_event(received, "account-mail")).payload
    (record,) = received
    if payload["batchItemFailures"]:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"], VisibilityTimeout=0)
        return "failed"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"])
    return "done"


def take_one(stack: Any) -> dict[str, Any]:
    """The one waiting record, taken off the queue (the tests hand it to the function themselves)."""
    sqs, url = stack.client("sqs"), queue_url(stack)
    (record,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"])
    return dict(record)


def invoke(client: Client, record: dict[str, Any]) -> dict[str, Any]:
    return dict(client.lambda_.invoke("send_account_mail", sqs_event([record], "account-mail")).payload)


def reset_mails(address: str) -> list[Any]:
    return [m for m in sent_mail() if m["To"].addresses[0].addr_spec == address and "/reset/" in mail_text(m)]


def forgot(web: WebClient, identifier: str) -> None:
    assert web.post("/api/password/forgot", json_body={"identifier": identifier}).status == 202


@pytest.fixture
def mail_down(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """SES refuses the next ``n`` sends (all of them by default), as a throttled or failing SES does."""

    real = Mailer.send_message
    refusals = {"left": 0}

    def refusing(self: Mailer, *args: Any, **kwargs: Any) -> str:
        if refusals["left"] != 0:
            refusals["left"] -= 1
            raise MailNotSent()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Mailer, "send_message", refusing)
    return lambda n=-1: refusals.update(left=n)


def test_the_worker_mails_the_link_and_audits(
    web: WebClient, partner: Account, stack: Any, chalice_client: Client
) -> None:
    forgot(web, partner.email.upper())
    record = take_one(stack)
    queued = json.loads(record["Body"])
    assert reset_mails(partner.email) == []  # nothing is mailed on the request path
    payload = invoke(chalice_client, record)
    assert payload["batchItemFailures"] == []
    assert payload["results"] == [{"done": "handled", "accounts": {partner.username: "mailed"}}]
    (mail,) = reset_mails(partner.email)
    assert partner.username in mail_text(mail) and "10 minutes" in mail_text(mail)
    (requested,) = audit_events(stack, "password.reset_requested")
    assert (requested["outcome"], requested["account"], requested["reason"]) == ("success", partner.username, None)
    # The record is the request's: its id and source address, not the worker's.
    assert (requested["request_id"], requested["source_ip"]) == (queued["request_id"], queued["source_ip"])


def test_an_unknown_identifier_is_audited_and_mails_nothing(
    web: WebClient, partner: Account, stack: Any, deliver_account_mail: Callable[[], Any]
) -> None:
    before = len(sent_mail())
    forgot(web, "nobody@nowhere.example")
    assert deliver_account_mail() == [{"done": "handled", "accounts": {}}]
    assert len(sent_mail()) == before
    (requested,) = audit_events(stack, "password.reset_requested")
    assert (requested["outcome"], requested["account"], requested["reason"]) == ("failure", None, "unknown_account")


def test_a_retried_record_does_not_mail_twice(
    web: WebClient, partner: Account, stack: Any, chalice_client: Client
) -> None:
    forgot(web, partner.username)
    record = take_one(stack)
    assert invoke(chalice_client, record)["results"][0]["done"] == "handled"
    # SQS hands the record out again (its delete was lost): a no-op.
    again = invoke(chalice_client, record)
    assert again == {"batchItemFailures": [], "results": [{"done": "already_handled"}]}
    assert len(reset_mails(partner.email)) == 1
    assert len(audit_events(stack, "password.reset_requested")) == 1


def test_a_retry_after_a_crash_past_the_mail_does_not_mail_again(
    web: WebClient, partner: Account, stack: Any, chalice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.gateway.idempotency import Idempotency

    forgot(web, partner.username)
    record = take_one(stack)
    real_done = Idempotency.done

    def killed_before_the_request_is_done(self: Idempotency, *parts: str) -> None:
        if parts[0] == "account-mail":
            raise RuntimeError("the invocation was killed")
        real_done(self, *parts)

    with monkeypatch.context() as crash:
        crash.setattr(Idempotency, "done", killed_before_the_request_is_done)
        assert invoke(chalice_client, record)["batchItemFailures"]
    assert len(reset_mails(partner.email)) == 1
    # At once, the dead run still holds its claim: the record is handed back (received later).
    assert invoke(chalice_client, record)["batchItemFailures"]
    with time_machine.travel(time.time() + 15 * 60, tick=False):  # the dead run's invocation has ended
        payload = invoke(chalice_client, record)
    assert payload["results"] == [{"done": "handled", "accounts": {partner.username: "already_mailed"}}]
    assert len(reset_mails(partner.email)) == 1


def test_a_failed_mail_is_retried_then_dead_lettered(
    web: WebClient,
    partner: Account,
    stack: Any,
    chalice_client: Client,
    mail_down: Callable[..., None],
    admin_cli: Callable[..., CliRun],
) -> None:
    forgot(web, partner.username)
    mail_down()
    outcomes = [poll(stack, chalice_client) for _ in range(6)]
    # maxReceiveCount 5: five failed receives, then SQS moves the record instead of handing it out.
    assert outcomes == ["failed"] * 5 + ["empty"]
    assert depth(stack, "account-mail-dlq") == 1 and depth(stack, "account-mail") == 0
    assert reset_mails(partner.email) == []

    mail_down(0)  # SES works again
    moved = admin_cli("redrive", "account-mail", "--yes")
    assert moved.code == 0 and "Sent 1 records" in moved.out
    assert partner.email not in moved.out and partner.username not in moved.out
    # Within the minute of the first attempt, yet mailed: the retry is the same request, not another one.
    assert poll(stack, chalice_client) == "done"
    assert poll(stack, chalice_client) == "empty"
    assert len(reset_mails(partner.email)) == 1


def test_a_retry_mails_only_the_accounts_not_yet_mailed(
    associate_web: WebClient,
    new_browser: Any,
    start_thread: Any,
    stack: Any,
    chalice_client: Client,
    mail_down: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")  # one account per thread, one address
    start_thread(["gus@clinic.example"], subject="Thread one")
    first = register_from_invitation(new_browser(), "gus@clinic.example")
    start_thread(["gus@clinic.example"], subject="Thread two")
    second = register_from_invitation(new_browser(), "gus@clinic.example", "another partner passphrase")
    forgot(new_browser(), "gus@clinic.example")
    record = take_one(stack)
    with monkeypatch.context() as patch:
        patch.setattr(Mailer, "send_message", _refuse_the_second(Mailer.send_message))
        assert invoke(chalice_client, record)["batchItemFailures"]
    assert len(reset_mails("gus@clinic.example")) == 1
    payload = invoke(chalice_client, record)
    (result,) = payload["results"]
    assert sorted(result["accounts"].values()) == ["already_mailed", "mailed"]
    assert set(result["accounts"]) == {first, second}
    mailed = [mail_text(m) for m in reset_mails("gus@clinic.example")]
    assert sorted(u for text in mailed for u in (first, second) if u in text) == sorted([first, second])


def _refuse_the_second(real: Callable[..., str]) -> Callable[..., str]:
    sends = {"count": 0}

    def send(self: Mailer, *args: Any, **kwargs: Any) -> str:
        sends["count"] += 1
        if sends["count"] == 2:
            raise MailNotSent()
        return real(self, *args, **kwargs)

    return send


def test_a_record_that_is_no_reset_request_is_dropped_without_a_retry(
    stack: Any, chalice_client: Client, associate: Account
) -> None:
    sqs = stack.client("sqs")
    for body in ("not json", json.dumps({"kind": "other", "identifier": "x", "request_id": "r"}), "{}"):
        sqs.send_message(QueueUrl=queue_url(stack), MessageBody=body)
        assert poll(stack, chalice_client) == "done"
    assert audit_events(stack, "password.reset_requested") == []


def test_what_was_typed_is_never_logged(
    web: WebClient,
    stack: Any,
    chalice_client: Client,
    mail_down: Callable[..., None],
    partner: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mail_down()
    for typed in (partner.email, "Unknown.Person@Nowhere.Example"):
        forgot(web, typed)
    received = stack.client("sqs").receive_message(QueueUrl=queue_url(stack), MaxNumberOfMessages=10)["Messages"]
    payload = chalice_client.lambda_.invoke("send_account_mail", sqs_event(received, "account-mail")).payload
    # One batch: the known account's mail failed (and was logged), the unknown one was handled.
    assert len(payload["batchItemFailures"]) == 1 and payload["results"] == [{"done": "handled", "accounts": {}}]
    text = caplog.text.lower() + json.dumps([r.__dict__ for r in caplog.records], default=str).lower()
    assert "unknown.person" not in text and partner.email not in text
