"""``sealpost-admin``: the plan's own accounts from the command line: the first administrator of a new
stack, associates and break-glass (emergency access) accounts.

    sealpost-admin --stack sealpost create-associate alice@plan.example --name "Alice Example"
    sealpost-admin --stack sealpost create-associate alice@plan.example --print-link --administrator
    sealpost-admin --stack sealpost invite alice@plan.example        # a new link (the last one expired)
    sealpost-admin --stack sealpost list --role associate --status active
    sealpost-admin --stack sealpost unlock alice@plan.example
    sealpost-admin --stack sealpost disable alice@plan.example       # ends every session
    sealpost-admin --stack sealpost enable alice@plan.example        # invited again, no old password
    sealpost-admin --stack sealpost grant-admin alice@plan.example   # manages associate accounts
    sealpost-admin --stack sealpost revoke-admin alice@plan.example  # refused for the last administrator
    sealpost-admin --stack sealpost break-glass create break-glass@plan.example
    sealpost-admin --stack sealpost break-glass rotate break-glass@plan.example
    sealpost-admin --stack sealpost restore-table threads --from sealpost-threads-restored --yes
    sealpost-admin --stack sealpost redrive inbound-mail             # how many records wait in its DLQ
    sealpost-admin --stack sealpost redrive inbound-mail --yes       # send them back to the queue
    sealpost-admin --env-file .local/env.json list                   # `make run`'s stand-in: make admin ARGS=list

``--stack`` reads the settings from the stack's API function (region from ``--region`` or boto3's
usual configuration); ``--env-file`` from the file `make run` writes. Both then build the same
services the functions use and make the same audited calls (``accounts.directory``,
``accounts.break_glass``). A registration link or passphrase is printed to standard output only,
never logged.

Exit codes: 0 done; 1 refused (the request breaks a rule: an outside address, an account that
exists or does not, the wrong state) or done without the invitation mail; 2 usage,
configuration or AWS error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws_clients
from chalicelib.accounts.directory import Invited, Operator
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.commands import stacks
from chalicelib.commands.redrive import QUEUES, QueueRedrive
from chalicelib.commands.restore import TABLES, TableRestore
from chalicelib.commands.stacks import ClientFactory, StackEnvironment
from chalicelib.errors import SealpostError, ServiceUnavailable
from chalicelib.settings import Settings
from chalicelib.wiring import services as wiring
from chalicelib.wiring.services import Services

PROG = "sealpost-admin"
LIST_COLUMNS = (
    "username", "email", "role", "status", "locked", "created_at", "created_by", "break_glass", "administrator"
)  # fmt: skip
Builder = Callable[[Settings], Services]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Manage the plan's own Sealpost accounts: associates and break-glass access."
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="name of the deployed CloudFormation stack")
    where.add_argument("--env-file", help="settings of a local stand-in (make run writes .local/env.json)")
    parser.add_argument("--region", help="the stack's region (default: boto3's usual configuration)")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-associate", help="an associate account with a registration link")
    create.add_argument("email", help="work address on one of the plan's internal domains (the user name)")
    create.add_argument("--name", help="display name")
    create.add_argument("--print-link", action="store_true", help="print the link instead of mailing it")
    create.add_argument(
        "--administrator", action="store_true", help="an administrator from the start (the first one of a stack)"
    )

    invite = commands.add_parser("invite", help="a new registration link for an associate who has not registered")
    invite.add_argument("username")
    invite.add_argument("--print-link", action="store_true", help="print the link instead of mailing it")

    listing = commands.add_parser("list", help="accounts as a table")
    listing.add_argument("--role", choices=[str(r) for r in Role])
    listing.add_argument("--status", choices=[str(s) for s in Status])

    for name, text in (
        ("unlock", "lift the lock of too many failed sign-ins"),
        ("disable", "terminate an account: no more sign-ins, every session ends"),
        ("grant-admin", "make an associate an administrator (manages associate accounts in the portal)"),
        ("revoke-admin", "an administrator no longer (refused for the last active one)"),
    ):
        commands.add_parser(name, help=text).add_argument("username")
    enable = commands.add_parser("enable", help="invite a disabled associate again (the old password is removed)")
    enable.add_argument("username")
    enable.add_argument("--print-link", action="store_true", help="print the link instead of mailing it")

    glass = commands.add_parser("break-glass", help="emergency access accounts").add_subparsers(
        dest="action", required=True
    )
    glass_create = glass.add_parser("create", help="an active account whose passphrase is printed once")
    glass_create.add_argument("email", help="address on one of the plan's internal domains (the user name)")
    glass_create.add_argument("--name", help="display name (default: Break-glass account)")
    glass.add_parser("rotate", help="a new passphrase, printed once; the old one stops working").add_argument(
        "username"
    )
    restore = commands.add_parser(
        "restore-table", help="make a table of the stack hold exactly what a restored copy of it holds"
    )
    restore.add_argument("table", choices=sorted(TABLES), help="which of the stack's tables")
    restore.add_argument("--from", dest="source", required=True, help="the table DynamoDB restored into")
    restore.add_argument("--yes", action="store_true", help="confirm: items the restored copy lacks are deleted")
    redrive = commands.add_parser(
        "redrive", help="send a mail function's dead letters (records it gave up on) back to its queue"
    )
    redrive.add_argument(
        "queue",
        choices=QUEUES,
        help="inbound-mail (the router), delivery-events (bounces) or account-mail (forgot password)",
    )
    redrive.add_argument("--max", type=_positive, help="move at most this many records (1 or more)")
    redrive.add_argument("--yes", action="store_true", help="move them (without it: only say how many wait)")
    return parser


def _positive(text: str) -> int:
    number = int(text) if text.isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return number


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clients: ClientFactory = aws_clients.client,
    build: Builder = wiring.build,
) -> int:
    """Run the command; ``clients(service, region)`` gives the boto3 clients that find a stack's settings."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return _run(args, out, err, clients, build)
    except ServiceUnavailable as exc:  # settings, the audit trail, throttling: nothing was changed
        print(f"{PROG}: {exc.public_message}", file=err)
    except SealpostError as exc:
        print(f"{PROG}: {exc.public_message}", file=err)
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{PROG}: AWS refused the request: {error.get('Code')}: {error.get('Message')}", file=err)
    except BotoCoreError as exc:
        print(f"{PROG}: cannot reach AWS: {exc}", file=err)
    return 2


def _source(args: argparse.Namespace, clients: ClientFactory) -> StackEnvironment:
    if args.stack:
        return stacks.of_stack(args.stack, args.region or stacks.default_region(os.environ), clients)
    return stacks.of_file(args.env_file)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, clients: ClientFactory, build: Builder) -> int:
    source = _source(args, clients)
    services = build(Settings.from_env(source.variables))
    operator = Operator.named(source.operator)
    directory = services.directory
    where = source.description
    again = f"{PROG} --stack {args.stack}" if args.stack else f"{PROG} --env-file {args.env_file}"
    if args.command == "restore-table":
        return _restore(args, services, operator, out, err, clients)
    if args.command == "redrive":
        # The queues are named after the stack (infra/template.yaml), like SEALPOST_DEPLOYMENT.
        settings = services.settings
        redrive = QueueRedrive(settings.deployment, lambda: clients("sqs", settings.region), services.audit)
        return _redrive(args, redrive, operator, out)
    if args.command == "list":
        role = Role(args.role) if args.role else None
        status = Status(args.status) if args.status else None
        out.write(table(directory.listing(role, status), services.settings.lockout_threshold))
        return 0
    if args.command == "create-associate":
        invited = directory.create_associate(
            operator, args.email, args.name, mail=not args.print_link, administrator=args.administrator
        )
        kind = "an administrator, invited" if args.administrator else "invited"
        print(f"Created associate account {invited.account.username} ({kind}) in {where}.", file=out)
        return _report_invitation(invited, out, err, again)
    if args.command == "invite":
        invited = directory.invite(operator, args.username, mail=not args.print_link)
        print(f"New invitation for {invited.account.username} in {where}.", file=out)
        return _report_invitation(invited, out, err, again)
    if args.command == "enable":
        invited = directory.enable(operator, args.username, mail=not args.print_link)
        print(f"Enabled {invited.account.username} in {where}: invited again, with no password.", file=out)
        return _report_invitation(invited, out, err, again)
    if args.command == "unlock":
        account = directory.unlock(operator, args.username)
        print(f"Unlocked {account.username} in {where}.", file=out)
        return 0
    if args.command in ("grant-admin", "revoke-admin"):
        granted = args.command == "grant-admin"
        account = directory.set_administrator(operator, args.username, granted)
        state = "an administrator now" if granted else "no longer an administrator"
        print(f"{account.username} is {state} in {where}.", file=out)
        if services.settings.associate_idp_admin_group:
            print(
                f"Note: the associates' identity provider has an admin group "
                f"({services.settings.associate_idp_admin_group}); it decides again at each of their sign-ins "
                "through it.",
                file=out,
            )
        return 0
    if args.command == "disable":
        account = directory.disable(operator, args.username)
        print(
            f"Disabled {account.username} ({account.role}) in {where}: it can no longer sign in, "
            "and every session of it has ended.",
            file=out,
        )
        return 0
    if args.action == "create":
        made = services.break_glass.create(operator, args.email, args.name)
        print(f"Created break-glass account {made.account.username} (active) in {where}.", file=out)
    else:
        made = services.break_glass.rotate(operator, args.username)
        print(
            f"New passphrase for {made.account.username} in {where}: the old one no longer works, "
            "every session has ended and a lock is lifted.",
            file=out,
        )
    print(
        "Passphrase, shown this once (Sealpost keeps only its hash). Seal it now, under the two-person rule:\n"
        f"\n    {made.passphrase}\n\n"
        "Every sign-in with this account is audited as signin.break_glass; review with\n"
        "    sealpost-audit search --event signin.break_glass",
        file=out,
    )
    return 0


def _restore(
    args: argparse.Namespace,
    services: Services,
    operator: Operator,
    out: TextIO,
    err: TextIO,
    clients: ClientFactory,
) -> int:
    target = getattr(services.settings, TABLES[args.table])
    if not args.yes:
        print(
            f"{PROG}: restore-table overwrites {target} with {args.source} and deletes what {args.source} lacks; "
            "freeze writes first (README, Restore) and add --yes to go on.",
            file=err,
        )
        return 1
    client = clients("dynamodb", services.settings.region)
    restored = TableRestore(client, services.audit).restore(operator, args.source, target)
    print(
        f"{target} now holds the {restored.written} items of {args.source}; {restored.deleted} items it had "
        "beyond them were deleted.",
        file=out,
    )
    return 0


def _redrive(args: argparse.Namespace, redrive: QueueRedrive, operator: Operator, out: TextIO) -> int:
    parked = redrive.parked(args.queue)
    if not args.yes:
        print(
            f"{parked.dead_letter_queue}: {parked.waiting} records wait ({parked.in_flight} being received). "
            f"Fix their cause first (the function's log: error types per record), then add --yes to send them "
            f"back to {parked.queue}.",
            file=out,
        )
        return 0
    moved = redrive.redrive(operator, args.queue, args.max)
    print(f"Sent {len(moved)} records from {parked.dead_letter_queue} back to {parked.queue}.", file=out)
    for message_id in moved:
        print(f"  {message_id}", file=out)
    return 0


def _report_invitation(invited: Invited, out: TextIO, err: TextIO, again: str) -> int:
    account = invited.account
    if invited.link is not None:
        print(
            f"Registration link for {account.email}: single use, valid for {invited.valid_hours} hours. Hand it over "
            "in person or by another trusted channel and keep no copy:",
            file=out,
        )
        print(invited.link, file=out)
        return 0
    if invited.mailed:
        print(
            f"The invitation was mailed to {account.email}: a single-use link to choose a password, "
            f"valid for {invited.valid_hours} hours.",
            file=out,
        )
        return 0
    print(
        f"{PROG}: the invitation mail to {account.email} could not be sent. The account is ready; send a new link "
        f"with `{again} invite {account.username}` (add --print-link to hand it over yourself).",
        file=err,
    )
    return 1


def table(accounts: Sequence[Account], lockout_threshold: int) -> str:
    """One line per account under a header, in columns; ``No accounts.`` when there are none."""
    if not accounts:
        return "No accounts.\n"
    rows = [[c.upper() for c in LIST_COLUMNS]]
    for a in accounts:
        locked = "yes" if a.is_locked(lockout_threshold) else "no"
        flags = ["yes" if flag else "no" for flag in (a.break_glass, a.administrator)]
        rows.append([a.username, a.email, a.role, a.status, locked, a.created_at or "-", a.created_by or "-", *flags])
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_COLUMNS))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "".join(line + "\n" for line in lines)


if __name__ == "__main__":
    sys.exit(main())
