"""`make run`'s stand-in for Lambda's SQS event source: forgot-password requests queued by the API
reach ``send_account_mail`` and are deleted once handled."""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib.accounts.model import Account
from devtools.local_server import poll_account_mail
from tests.support import WebClient, mail_text, sent_mail


def test_the_poller_hands_queued_requests_to_the_function_and_deletes_them(
    web: WebClient, partner: Account, stack: Any
) -> None:
    from app import send_account_mail

    assert web.post("/api/password/forgot", json_body={"identifier": partner.username}).status == 202
    stop = threading.Event()
    poller = threading.Thread(target=poll_account_mail, args=(send_account_mail, stop), daemon=True)
    poller.start()
    try:
        deadline = time.monotonic() + 20
        while not [m for m in sent_mail() if "/reset/" in mail_text(m)] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join(timeout=10)
    (mail,) = [m for m in sent_mail() if "/reset/" in mail_text(m)]
    assert mail["To"].addresses[0].addr_spec == partner.email
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.env["SEALPOST_ACCOUNT_MAIL_QUEUE"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
