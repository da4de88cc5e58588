"""`make send-mail`: hand a mail to the gateway of a running `make run`, as the associates' mail
system would through SES, and print where each recipient's copy went.

    make send-mail TO=carol@clinic.example SUBJECT="Claim 4471" BODY="Please review."
    make send-mail TO=carol@clinic.example FROM=associate@plan.example ATTACH=./report.pdf

SES's part is played here: the raw MIME is stored in the inbound bucket of the local
stand-in and the receipt notification (SPF/DKIM/DMARC passed) goes to the same router
the deployed SNS handler calls. Outside domains are looked up for real; without network
they count as "no TLS", so the recipient gets a pickup link: read it at /local/mail.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import boto3

from chalicelib.wiring import services
from devtools.run_local import LOCAL_ENV
from devtools.seed import DEMO_ASSOCIATE


def build(args: argparse.Namespace) -> bytes:
    message = EmailMessage()
    message["From"] = args.sender
    message["To"] = args.to
    if args.cc:
        message["Cc"] = args.cc
    message["Subject"] = args.subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.{args.sender.rpartition('@')[2]}>"
    message.set_content(args.body)
    for path in args.attach or []:
        file = Path(path)
        kind = (mimetypes.guess_type(file.name)[0] or "application/octet-stream").split("/", 1)
        message.add_attachment(file.read_bytes(), maintype=kind[0], subtype=kind[1], filename=file.name)
    return message.as_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make send-mail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", required=True, help="recipients, comma-separated")
    parser.add_argument("--cc", default="")
    parser.add_argument("--from", dest="sender", default=DEMO_ASSOCIATE)
    parser.add_argument("--subject", default="Secure message from Sealpost's local gateway")
    parser.add_argument("--body", default="Hello,\n\nthis message went through the secure gateway.\n")
    parser.add_argument("--attach", action="append")
    args = parser.parse_args(argv)
    if not LOCAL_ENV.exists():
        print("Start Sealpost with `make run` first (no local stack found).", file=sys.stderr)
        return 1
    os.environ.update(json.loads(LOCAL_ENV.read_text()))
    settings = services.current().settings
    ses_id = uuid.uuid4().hex
    key = f"inbound/{ses_id}"
    boto3.client("s3", region_name=settings.region).put_object(
        Bucket=settings.inbound_bucket, Key=key, Body=build(args)
    )
    verdict = {"status": "PASS"}
    notification = {
        "notificationType": "Received",
        "mail": {"messageId": ses_id, "source": args.sender.lower(), "destination": [settings.gateway_address]},
        "receipt": {
            "recipients": [settings.gateway_address],
            "spfVerdict": verdict,
            "dkimVerdict": verdict,
            "dmarcVerdict": verdict,
            "spamVerdict": verdict,
            "virusVerdict": verdict,
            "action": {"type": "S3", "bucketName": settings.inbound_bucket, "objectKey": key},
        },
    }
    report = services.current().gateway.handle(json.dumps(notification))
    print(f"Gateway: {report.outcome}{' (' + report.reason + ')' if report.reason else ''}")
    for route in report.routes:
        print(f"  {route.address}: {'enforced TLS' if route.by_tls else 'pickup link'} ({route.reason})")
    for address in report.internal:
        print(f"  {address}: delivered directly (internal)")
    if report.thread_id:
        port = os.environ.get("PORT", "8000")
        print(f"  thread {report.thread_id}; read the mail at http://127.0.0.1:{port}/local/mail")
    return 0 if report.outcome != "refused" else 2


if __name__ == "__main__":
    sys.exit(main())
