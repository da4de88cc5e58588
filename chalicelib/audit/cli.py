"""``sealpost-audit``: verify, search and review the audit trail from the command line.

    sealpost-audit verify --start 2026-03-01 --end 2026-03-08
    sealpost-audit search --actor bob@clinic.example --event 'message.*' --start 7d --format csv
    sealpost-audit history MESSAGE_ID
    sealpost-audit digest            # write the digests that are due now (needs kms:Sign)

AWS is reached through boto3's usual configuration (credentials, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` for a local stand-in such as ``make run``'s moto server). The bucket
and the signing key come from ``--bucket`` and ``--signing-key`` or from the variables the
functions use (``SEALPOST_AUDIT_BUCKET``, ``SEALPOST_AUDIT_SIGNING_KEY_ARN``).

Exit codes: 0 fine, 1 verification found problems, 2 usage, configuration or AWS error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws_clients, clock
from chalicelib.audit.digest import DigestChainError, DigestWriter, SigningKey
from chalicelib.audit.layout import PERIOD_MINUTES
from chalicelib.audit.records import AuditLog, Outcome
from chalicelib.audit.search import FORMATS, HISTORY_COLUMNS, Query, check_event_patterns, history, render, search
from chalicelib.audit.store import AuditStore
from chalicelib.audit.verify import Report, Verifier
from chalicelib.errors import ConfigurationError

_AGO = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime) -> datetime:
    """``now``, ``30m``/``12h``/``7d`` (that long ago), or an ISO date or time (UTC unless it says otherwise)."""
    text = text.strip()
    if text.lower() == "now":
        return now
    ago = _AGO.match(text)
    if ago:
        return now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use e.g. 2026-03-04T05:00Z, 7d or now)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parser(now: datetime) -> argparse.ArgumentParser:
    def when(text: str) -> datetime:
        return parse_time(text, now)

    parser = argparse.ArgumentParser(
        prog="sealpost-audit", description="Verify, search and review the Sealpost audit trail."
    )
    parser.add_argument("--bucket", default=os.environ.get("SEALPOST_AUDIT_BUCKET"), help="the audit bucket")
    parser.add_argument(
        "--signing-key",
        default=os.environ.get("SEALPOST_AUDIT_SIGNING_KEY_ARN"),
        help="ARN or alias of the KMS key that signs digests (the only key whose signatures are trusted)",
    )
    parser.add_argument(
        "--period-minutes",
        type=int,
        choices=PERIOD_MINUTES,
        default=os.environ.get("SEALPOST_AUDIT_DIGEST_MINUTES") or "60",
        help="length of a digest period (SEALPOST_AUDIT_DIGEST_MINUTES, default 60)",
    )
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="check records and digest chain of a time range")
    verify.add_argument("--start", type=when, required=True, help="e.g. 2026-03-04, 2026-03-04T05:00Z, 7d")
    verify.add_argument("--end", type=when, default=now, help="default: now")

    find = commands.add_parser("search", help="find records")
    find.add_argument("--actor", help="user name (or system name) that acted")
    find.add_argument("--account", help="the account acted upon")
    find.add_argument("--thread", help="thread id")
    find.add_argument("--message", help="message id")
    find.add_argument("--event", action="append", default=[], help="event type or pattern (message.*); repeatable")
    find.add_argument("--outcome", choices=[str(o) for o in Outcome])
    find.add_argument("--start", type=when, default=now - timedelta(days=1), help="default: 24 hours ago")
    find.add_argument("--end", type=when, default=now, help="default: now")
    find.add_argument("--format", choices=FORMATS, default="table")

    life = commands.add_parser("history", help="the life of one message, in time order")
    life.add_argument("message_id")
    life.add_argument("--start", type=when, default=now - timedelta(days=90), help="default: 90 days ago")
    life.add_argument("--end", type=when, default=now, help="default: now")
    life.add_argument("--format", choices=FORMATS, default="table")

    digest = commands.add_parser("digest", help="write the digests that are due now (needs kms:Sign)")
    digest.add_argument(
        "--data-key",
        default=os.environ.get("SEALPOST_KMS_KEY_ARN"),
        help="ARN of the KMS key that encrypts audit objects (SEALPOST_KMS_KEY_ARN)",
    )
    return parser


ClientFactory = Callable[[str, str], Any]


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clients: ClientFactory = aws_clients.client,
) -> int:
    """Run the command; ``clients(service, region)`` gives the boto3 clients (cached ones by default)."""
    out = out or sys.stdout
    err = err or sys.stderr
    now = clock.now()
    try:
        args = _parser(now).parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return _run(args, now, out, clients)
    except ConfigurationError as exc:
        print(f"sealpost-audit: {exc.public_message}", file=err)
    except ValueError as exc:
        print(f"sealpost-audit: {exc}", file=err)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"sealpost-audit: AWS refused the request: {error.get('Code')}: {error.get('Message')}", file=err)
    except BotoCoreError as exc:
        print(f"sealpost-audit: cannot reach AWS: {exc}", file=err)
    except DigestChainError as exc:
        print(f"sealpost-audit: {exc}", file=err)
    return 2


def _run(args: argparse.Namespace, now: datetime, out: TextIO, clients: ClientFactory) -> int:
    if not args.bucket:
        raise ConfigurationError("name the audit bucket with --bucket or SEALPOST_AUDIT_BUCKET")
    if hasattr(args, "start") and args.start >= args.end:
        raise ValueError("--start must be before --end")
    region = args.region
    store = AuditStore(args.bucket, lambda: clients("s3", region))
    if args.command == "search":
        query = Query(
            start=args.start,
            end=args.end,
            actor=args.actor,
            account=args.account,
            thread_id=args.thread,
            message_id=args.message,
            events=check_event_patterns(args.event),
            outcome=args.outcome,
        )
        out.write(render(search(store, query), args.format))
        return 0
    if args.command == "history":
        records = history(store, args.message_id, args.start, args.end)
        if args.format == "table":
            print(f"Message {args.message_id}: {len(records)} event(s)", file=out)
        out.write(render(records, args.format, HISTORY_COLUMNS))
        return 0
    if not args.signing_key:
        raise ConfigurationError("name the signing key with --signing-key or SEALPOST_AUDIT_SIGNING_KEY_ARN")
    key = SigningKey(args.signing_key, lambda: clients("kms", region))
    if args.command == "verify":
        report = Verifier(store, key, args.period_minutes).verify(args.start, args.end, now)
        print_report(report, out)
        return 0 if report.intact else 1
    if not args.data_key:
        raise ConfigurationError("name the data key with --data-key or SEALPOST_KMS_KEY_ARN")
    audit = AuditLog(args.bucket, args.data_key, lambda: clients("s3", region))
    writer = DigestWriter(store, key, data_key_arn=args.data_key, period_minutes=args.period_minutes, audit=audit)
    written = writer.write_due(now)
    for signed in written:
        print(f"wrote {signed.key} ({len(signed.digest.objects)} record object(s))", file=out)
    if not written:
        print("no digest is due", file=out)
    return 0


def print_report(report: Report, out: TextIO) -> None:
    print(f"Audit trail in {report.bucket}, {clock.iso(report.start)} to {clock.iso(report.end)}", file=out)
    print(f"Checked {report.digests_checked} digest(s) and {report.records_checked} record(s).", file=out)
    for problem in report.problems:
        print(f"{problem.kind}  {problem.key}\n    {problem.message}", file=out)
    if report.pending_records and report.pending_since is not None:
        print(
            f"Not yet covered by a digest: {report.pending_records} record(s) since "
            f"{clock.iso(report.pending_since)} (checked once their period's digest is written).",
            file=out,
        )
    if report.intact:
        print("RESULT: intact, no problems found.", file=out)
    else:
        print(f"RESULT: {len(report.problems)} problem(s) found.", file=out)


if __name__ == "__main__":
    sys.exit(main())
