"""Seed accounts that, in production, come from the plan's identity provider (associates), and the
demo data of `make run`: partners, threads and gateway decisions, so every page has something to show.

The demo data is made through the product's own services, the way people would make it: the
associate starts threads, the partner registers from the pickup link the app mailed, replies,
and tries once to write outside the plan. Only what the email gateway would write (cached TLS
decisions, a "sent over TLS" delivery) is put in place directly, marked as demo data.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.passwords import check_new_password, hash_password
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.signin import SignedIn
from chalicelib.audit.records import RequestInfo
from chalicelib.gateway.tls_decision import DecisionReason, TlsDecision, TlsDecisionCache, TlsVerdict
from chalicelib.messaging.domain_filter import RecipientNotAllowed
from chalicelib.messaging.drafts import AttachmentInput, Draft
from chalicelib.messaging.model import Delivery, DeliveryState
from chalicelib.messaging.sender import ByMail
from chalicelib.wiring.services import Services

DEMO_ASSOCIATE = "associate@plan.example"
DEMO_ASSOCIATE_PASSWORD = "local demo associate passphrase"
DEMO_PARTNER_EMAIL = "pat@clinic.example"
DEMO_PARTNER_PASSWORD = "local demo partner passphrase"
SECOND_PARTNER_PASSWORD = "second demo partner passphrase"
DEMO_ATTACHMENT = b"Demo care plan\n\nThis file is demo data seeded by `make run`. It holds no real information.\n"

# Reads the mail the app sent (local mode: moto's SES), newest first, as (recipients, text).
MailReader = Callable[[], list[tuple[tuple[str, ...], str]]]


def seed_associate(services: Services, email: str, password: str, display_name: str = "") -> Account:
    """Create an active associate account with a password (local mode and tests only)."""
    if not services.settings.is_internal_address(email):
        raise ValueError(f"{email} is not on an internal domain")
    account = Account(
        username=email.lower(),
        email=email.lower(),
        role=Role.ASSOCIATE,
        status=Status.ACTIVE,
        display_name=display_name,
        password_hash=hash_password(check_new_password(password)),
        created_at=clock.iso(clock.now()),
        created_by="seed",
    )
    services.accounts.create(account, claim_email=True)
    return account


@dataclass(frozen=True)
class DemoData:
    partner_username: str
    partner_password: str
    thread_ids: tuple[str, ...]


def _signed_in(services: Services, username: str, password: str, request: RequestInfo) -> Principal:
    return _principal(services, services.signin.sign_in(username, password, request), request)


def _principal(services: Services, signed_in: SignedIn, request: RequestInfo) -> Principal:
    """The seed acts for its demo people server-side: a session still waiting for the second factor
    (MfaPolicy=required) is stepped up without one here, so the demo data can be made; the people
    themselves set up their authenticator app at their first sign-in in the browser."""
    secret = signed_in.session_secret
    if not signed_in.complete:
        secret, _session = services.sessions.step_up(signed_in.session, signed_in.account)
    return services.sessions.resolve(secret, request)


def _link(read_mail: MailReader, email: str, path: str) -> str:
    for recipients, text in read_mail():
        if email in recipients:
            found = re.search(re.escape(path) + r"([A-Za-z0-9_\-]{43})", text)
            if found:
                return found.group(1)
    raise RuntimeError(f"no {path} link was mailed to {email}")


def _staged_file(services: Services, principal: Principal, data: bytes) -> str:
    """Stage a file as a browser would (a presigned POST ticket, then the object)."""
    from chalicelib import aws_clients

    ticket = services.uploads.start(principal.account.username, len(data))
    aws_clients.s3(services.settings.region).put_object(
        Bucket=services.settings.staging_bucket,
        Key=ticket.fields["key"],
        Body=data,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=services.settings.kms_key_arn,
    )
    return ticket.upload_id


def _demo_decisions(services: Services) -> None:
    """What the gateway's TLS check would have cached for the demo domains."""
    now = clock.epoch_seconds()
    cache = TlsDecisionCache(lambda: _gateway_table(services))
    for domain, verdict, reason, detail, hosts in (
        (
            "clinic.example",
            TlsVerdict.NO_TLS,
            DecisionReason.NO_STARTTLS,
            "mx.clinic.example does not offer STARTTLS. (Demo data seeded by make run.)",
            ("mx.clinic.example",),
        ),
        (
            "lab.example",
            TlsVerdict.TLS_VERIFIED,
            DecisionReason.CERTIFICATE_VERIFIED,
            "mx1.lab.example offers STARTTLS with a certificate valid for its name. (Demo data seeded by make run.)",
            ("mx1.lab.example",),
        ),
    ):
        cache.put(TlsDecision(domain, verdict, reason, detail, hosts, None, False, now, now + 7 * 24 * 3600))


def _gateway_table(services: Services) -> Any:
    from chalicelib import aws_clients

    return aws_clients.dynamodb_table(services.settings.gateway_table, services.settings.region)


def seed_demo(services: Services, read_mail: MailReader) -> DemoData:
    """Demo partners and threads for `make run` (after ``seed_associate`` made the demo associate)."""
    request = RequestInfo.system()
    associate = _signed_in(services, DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, request)
    sender = services.sender

    # 1. A thread with an attachment; the partner registers from the pickup link and replies.
    upload_id = _staged_file(services, associate, DEMO_ATTACHMENT)
    welcome = sender.start_thread(
        associate,
        [DEMO_PARTNER_EMAIL],
        Draft(
            subject="Care plan for your review (demo)",
            text="Hello Pat,\n\nThe care plan is attached. Please review it and reply here.\n\nDemo Associate",
            attachments=(AttachmentInput(upload_id, "demo-care-plan.txt", "text/plain"),),
        ),
        request,
    )
    token = _link(read_mail, DEMO_PARTNER_EMAIL, "/p/")
    registered, _thread_id = services.pickup.register(token, DEMO_PARTNER_PASSWORD, DEMO_PARTNER_PASSWORD, request)
    partner = _principal(services, registered, request)
    services.reader.thread_view(partner, welcome.thread.thread_id, request)
    sender.reply(partner, welcome.thread.thread_id, Draft(subject="", text="Thank you, received."), request)

    # 2. A thread one message short of the limit of 12 interactions.
    busy = sender.start_thread(
        associate,
        [DEMO_PARTNER_EMAIL],
        Draft(subject="Claim review, nearly full (demo)", text="Message 1 of the claim review."),
        request,
    )
    for n in range(2, services.settings.max_interactions):
        writer = partner if n % 2 == 0 else associate
        draft = Draft(subject="", text=f"Message {n} of the claim review.")
        sender.reply(writer, busy.thread.thread_id, draft, request)

    # 3. A thread to a partner whose domain takes verified TLS: the gateway's delivery, as it would record it.
    # The thread is made as the gateway makes it for a TLS recipient (no pickup link); the TLS
    # send itself is not played locally (moto's SES has no TLS), only its record.
    lab = services.mail_threads.post(
        associate.account,
        ["lee@lab.example"],
        Draft(subject="Lab results routing (demo)", text="Please route the results to the care team."),
        request,
        ByMail(files=[], tls=frozenset({"lee@lab.example"})),
    )
    lee = services.accounts.username_for_email("lee@lab.example")
    if lee is not None:
        services.threads.record_delivery(
            Delivery(lab.thread.thread_id, 1, lee, DeliveryState.SENT_TLS, clock.iso(clock.now()), "tls_verified")
        )
    _demo_decisions(services)

    # 4. A second partner, invited and registered, who once tried to write outside the plan.
    services.admin.create_partner(associate, "quinn@lab.example", "Quinn Partner (demo)", request)
    quinn_token = _link(read_mail, "quinn@lab.example", "/register/")
    quinn = services.credentials.register(quinn_token, SECOND_PARTNER_PASSWORD, SECOND_PARTNER_PASSWORD, request)
    quinn_principal = _principal(services, quinn, request)
    # Refused by the domain filter, as intended: one strike.
    with contextlib.suppress(RecipientNotAllowed):
        sender.write_to_associates(
            quinn_principal, ["someone@mail.example"], Draft(subject="Question", text="Hello"), request
        )
    return DemoData(
        partner_username=partner.account.username,
        partner_password=DEMO_PARTNER_PASSWORD,
        thread_ids=(welcome.thread.thread_id, busy.thread.thread_id, lab.thread.thread_id),
    )
