"""The app as `make run` serves it: Chalice's local server (what `chalice local` runs) for `app.py`,
plus the pages that exist only locally (``devtools/local_mail.py``), which never ship, the
streaming download function's own code (``chalicelib/web/download_server.py``) on a port of its own,
and Lambda's SQS event source for the account-mail queue (``poll_account_mail``: forgot-password
requests reach ``send_account_mail`` as they would in a deployment).

    python -m devtools.local_server --host 127.0.0.1 --port 8000 --download-port 8001 --stage dev
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes

from chalicelib import aws_clients
from chalicelib.web import download_server
from chalicelib.wiring import services
from devtools import local_mail

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
WAIT_SECONDS = 1  # a long poll: a request is mailed within about a second


def poll_account_mail(handler: Callable[[dict[str, Any], Any], Any], stop: threading.Event) -> None:
    """Receive the account-mail queue's records (up to 10 at once) and hand them to ``handler`` as an
    SQS event; delete what it handled. A failed record becomes visible again after the queue's
    visibility timeout and, after five receives, moves to the dead-letter queue, as deployed."""
    settings = services.current().settings
    sqs = aws_clients.client("sqs", settings.region)
    while not stop.is_set():
        try:
            received = sqs.receive_message(
                QueueUrl=settings.account_mail_queue,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=WAIT_SECONDS,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                continue
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:local:account-mail",
                    "awsRegion": settings.region,
                }
                for m in received
            ]
            result = handler({"Records": records}, None)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for message in received:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=settings.account_mail_queue, ReceiptHandle=message["ReceiptHandle"])
        except Exception as exc:  # the stand-in went away (Ctrl-C) or hiccuped: try again shortly
            log.warning("account-mail poll failed", extra={"error": type(exc).__name__})
            time.sleep(WAIT_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--download-port", type=int, default=8001)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    factory = CLIFactory(project_dir=str(ROOT))
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    app = config.chalice_app
    app.register_blueprint(local_mail.routes.blueprint(services.current))
    validate_routes(app.routes)
    # As `chalice local` does: the function's log lines on stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    downloads = download_server.make(args.host, args.download_port, services.current)
    threading.Thread(target=downloads.serve_forever, name="downloads", daemon=True).start()
    # The function as Lambda calls it (Chalice's loader imported app.py as the module `app`).
    handler = sys.modules["app"].send_account_mail
    threading.Thread(
        target=poll_account_mail, args=(handler, threading.Event()), name="account-mail", daemon=True
    ).start()
    factory.create_local_server(app, config, args.host, args.port).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
