"""The email gateway's router (R7, R10, R11): an associate's ordinary mail, handed to the
gateway's receiving address, reaches every recipient securely.

SES stores the raw MIME in the inbound bucket and notifies SNS, which feeds the router's queue;
``InboundRouter.handle`` receives each notification. In order:

1. Exactly once per SES message, under retries: a claim that lapses when the invocation ends;
   a retry finds the marker stored with the message (``Idempotency.posted``) and resumes the
   send (``MailThreads.resume``) instead of posting again; every TLS copy has its own claim.
2. Only associates may send: SPF, DKIM and DMARC must pass and the sender must be on an
   internal domain; anything else is refused and audited, and nothing is delivered.
3. The mail is parsed under limits; malformed or oversized mail is refused with a
   bounce-style notice to the (authenticated, internal) sender, and nothing is delivered.
4. The message becomes an encrypted thread (or joins the thread it answers, found by
   In-Reply-To/References): the retained copy (R6) and the portal's content.
5. Each outside recipient is routed: over enforced TLS (SES configuration set with
   TlsPolicy REQUIRE, subject tagged ``[Secure]``) when the deployment policy is
   ``tls_first``, the subject has no portal keyword, the domain's TLS decision permits it
   and, if sensitive data was found, the domain's TLS is verified; otherwise a
   notification without PHI carrying a pickup link. Internal recipients get the mail directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clock, logs
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import ServiceUnavailable
from chalicelib.gateway.content_scan import ScanResult, scan_mail
from chalicelib.gateway.idempotency import Idempotency, mail_ids
from chalicelib.gateway.mail_threads import MailThreads
from chalicelib.gateway.mime_intake import InboundMail, Limits, MailRefused, RefusalReason, check_receipt, parse_mail
from chalicelib.gateway.tls_decision import TlsDecision, TlsDecisions
from chalicelib.invocation import Deadline
from chalicelib.mail.mailer import MailNotSent
from chalicelib.mail.notices import Notifier
from chalicelib.mail.secure_mail import FileContent, SecureContent, TlsDelivery
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.drafts import AttachmentInput, Draft
from chalicelib.messaging.model import Thread
from chalicelib.messaging.sender import ByMail, SendResult
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.messaging.uploads import StagedFile
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

GATEWAY_ACTOR = Actor.system("mail-gateway")


@dataclass(frozen=True)
class InboundNotice:
    """What the SES receipt notification tells us (never the content: that is in S3)."""

    ses_message_id: str
    source: str
    bucket: str
    key: str
    receipt: dict[str, Any]

    @classmethod
    def parse(cls, message: str) -> InboundNotice:
        try:
            body = json.loads(message)
            action = body["receipt"]["action"]
            return cls(
                ses_message_id=str(body["mail"]["messageId"]),
                source=str(body["mail"]["source"]).lower(),
                bucket=str(action["bucketName"]),
                key=str(action["objectKey"]),
                receipt=dict(body["receipt"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("not an SES receipt notification") from exc


class NoticesNotSent(ServiceUnavailable):
    code = "notices_not_sent"
    default_message = "Some notifications of this mail could not be sent; they are sent again."


@dataclass(frozen=True)
class _Run:
    """One run of the router over one mail: ``until`` is when the invocation ends (its claims lapse then)."""

    notice: InboundNotice
    request: RequestInfo
    until: int


@dataclass(frozen=True)
class Route:
    address: str
    by_tls: bool
    reason: str
    decision: TlsDecision | None = None


@dataclass
class RouteReport:
    outcome: str  # routed | duplicate | refused
    reason: str = ""
    thread_id: str | None = None
    message_id: str | None = None
    routes: list[Route] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, str]:
        """What the function returns (no addresses: the return value may be logged)."""
        return {"outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class InboundRouter:
    settings: Settings
    accounts: AccountRepository
    threads: ThreadRepository
    mail_threads: MailThreads
    delivery: MessageDelivery
    tls: TlsDecisions
    secure_mail: TlsDelivery
    notifier: Notifier
    idempotency: Idempotency
    s3_factory: Callable[[], Any]
    audit: AuditLog

    # --- entry -------------------------------------------------------------------------

    def handle(self, sns_message: str, deadline: Deadline | None = None) -> RouteReport:
        """Route one SES receipt notification; ``deadline``: when the invocation ends (its claims lapse then)."""
        try:
            notice = InboundNotice.parse(sns_message)
        except ValueError:
            log.warning("ignored a notification that is not an SES receipt")
            return RouteReport(outcome="refused", reason="not_a_receipt")
        request = RequestInfo(request_id=f"ses-{notice.ses_message_id}")
        run = _Run(notice, request, (deadline or Deadline.unknown()).epoch_seconds())
        if not self.idempotency.claim("inbound", notice.ses_message_id, until=run.until):
            return RouteReport(outcome="duplicate")
        try:
            report = self._route(run)
        except Exception:
            self.idempotency.release("inbound", notice.ses_message_id)
            raise
        self.idempotency.done("inbound", notice.ses_message_id)
        return report

    # --- the steps -----------------------------------------------------------------------

    def _route(self, run: _Run) -> RouteReport:
        notice, request = run.notice, run.request
        try:
            check_receipt(notice.receipt)
        except MailRefused as refused:
            return self._refuse_sender(notice, str(refused.reason), request)
        if not self.settings.is_internal_address(notice.source):
            return self._refuse_sender(notice, "sender_not_internal", request)
        try:
            mail = parse_mail(self._fetch(notice), Limits.for_settings(self.settings))
        except MailRefused as refused:
            return self._refuse_mail(notice, refused, request)
        if mail.sender != notice.source or not self.settings.is_internal_address(mail.sender):
            return self._refuse_sender(notice, "sender_mismatch", request)
        associate = self._associate(mail)
        recipients = [a for a in mail.recipients if a not in (self.settings.gateway_address, associate.email)]
        answered = self._answered_thread(mail, associate)
        answered_emails = self._outside_emails(answered) if answered is not None else []
        if not recipients:
            # A reply sent to the gateway alone (the Reply-To of our mail) goes back to its thread.
            recipients = answered_emails
        if not recipients:
            return self._refuse_mail(notice, MailRefused(RefusalReason.NO_RECIPIENTS), request)
        outside = [a for a in recipients if not self.settings.is_internal_address(a)]
        inside = [a for a in recipients if self.settings.is_internal_address(a)]
        join = answered if answered is not None and set(outside) <= set(answered_emails) else None
        report = RouteReport(outcome="routed", internal=inside)
        content = _content(mail)
        if outside:
            scan = scan_mail(mail, unscannable_is_sensitive=self.settings.unscannable_is_sensitive)
            routes = [self._decide(address, mail.subject, scan) for address in outside]
            report.routes = routes
            thread_id, message_id = mail_ids(notice.ses_message_id)
            by_mail = ByMail(
                files=_files(mail),
                tls=frozenset(r.address for r in routes if r.by_tls),
                committed=lambda thread, message, participants: self._audit_decisions(
                    routes, scan, thread.thread_id, message.message_id, participants, request
                ),
                message_id=message_id,
                marker=lambda stored_in, stored_as: self.idempotency.posted_marker(
                    notice.ses_message_id, stored_in, stored_as
                ),
            )
            posted = self.idempotency.posted(notice.ses_message_id)
            if posted is not None:
                result = self.mail_threads.resume(associate, *posted, by_mail)
            else:
                result = self.mail_threads.post(
                    associate, outside, _draft(mail), request, by_mail, join=join, thread_id=thread_id
                )
            report.thread_id, report.message_id = result.thread.thread_id, result.message.message_id
            logs.bind(thread_id=result.thread.thread_id)
            self._deliver_by_tls(run, associate, routes, result, content, mail.message_id)
            self.threads.remember_mail_ids(result.thread.thread_id, [m for m in (mail.message_id,) if m])
        for address in inside:
            self._deliver_inside(run, associate, address, content, report)
        if outside and not all(result.notified.values()):
            # Retried from the queue: the retry resumes and sends only the notices that failed.
            raise NoticesNotSent()
        return report

    def _fetch(self, notice: InboundNotice) -> bytes:
        s3 = self.s3_factory()
        try:
            head = s3.head_object(Bucket=notice.bucket, Key=notice.key)
            if int(head["ContentLength"]) > self.settings.max_mail_bytes:
                raise MailRefused(RefusalReason.TOO_LARGE)
            body: bytes = s3.get_object(Bucket=notice.bucket, Key=notice.key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            log.warning("inbound mail not readable", extra={"error": type(exc).__name__})
            raise ServiceUnavailable() from None
        return body

    def _associate(self, mail: InboundMail) -> Account:
        """The sending associate's account, created on first use (associates come from the plan's directory)."""
        account = self.accounts.get(mail.sender)
        if account is not None and account.role is Role.ASSOCIATE and account.status is Status.ACTIVE:
            return account
        if account is not None:
            raise ServiceUnavailable("The sender's Sealpost account is not an active associate account.")
        created = Account(
            username=mail.sender,
            email=mail.sender,
            role=Role.ASSOCIATE,
            status=Status.ACTIVE,
            display_name=mail.sender_name[:100],
            created_at=clock.iso(clock.now()),
            created_by="mail-gateway",
        )
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=GATEWAY_ACTOR,
            request=RequestInfo.system(),
            account=created.username,
            reason="associate_first_mail",
            detail={"role": "associate"},
        )
        self.accounts.create(created, claim_email=True)
        return created

    def _decide(self, address: str, subject: str, scan: ScanResult) -> Route:
        if self.settings.delivery_policy == "portal_always":
            return Route(address, False, "policy_portal_always")
        if self.settings.portal_keyword and self.settings.portal_keyword in subject.lower():
            return Route(address, False, "subject_keyword")
        decision = self.tls.for_address(address)
        if decision.permits_tls_delivery(sensitive=scan.found):
            return Route(address, True, str(decision.reason), decision)
        reason = "sensitive_data_needs_verified_tls" if scan.found and not decision.verified else str(decision.reason)
        return Route(address, False, reason, decision)

    def _answered_thread(self, mail: InboundMail, associate: Account) -> Thread | None:
        """The thread this mail answers (In-Reply-To/References), if the sending associate takes part in it."""
        thread_id = self.threads.thread_for_mail_ids(mail.thread_ids)
        thread = self.threads.thread(thread_id) if thread_id else None
        return thread if thread is not None and associate.username in thread.associates else None

    def _outside_emails(self, thread: Thread) -> list[str]:
        accounts = (self.accounts.get(u) for u in thread.participants)
        return [a.email for a in accounts if a is not None and not a.is_associate and a.status is not Status.TERMINATED]

    def _audit_decisions(
        self,
        routes: list[Route],
        scan: ScanResult,
        thread_id: str,
        message_id: str,
        participants: list[Account],
        request: RequestInfo,
    ) -> None:
        found = ",".join(f"{kind}:{count}" for kind, count in sorted(scan.as_record().items()))
        for route in routes:
            detail: dict[str, str | int | bool] = {
                "route": "tls" if route.by_tls else "portal",
                "domain": route.address.rpartition("@")[2],
                "sensitive": found or "none",
            }
            if route.decision is not None:
                detail["verdict"] = str(route.decision.verdict)
            self.audit.record(
                AuditEvent.MESSAGE_TLS_DECIDED,
                actor=GATEWAY_ACTOR,
                request=request,
                account=next((a.username for a in participants if a.email == route.address), None),
                thread_id=thread_id,
                message_id=message_id,
                reason=route.reason,
                detail=detail,
            )

    def _deliver_by_tls(
        self,
        run: _Run,
        associate: Account,
        routes: list[Route],
        result: SendResult,
        content: SecureContent,
        in_reply_to: str | None,
    ) -> None:
        for route in (r for r in routes if r.by_tls):
            recipient = next(a for a in result.participants if a.email == route.address)
            if not self.idempotency.claim("tls", run.notice.ses_message_id, route.address, until=run.until):
                continue
            try:
                sent = self.secure_mail.send(
                    associate,
                    route.address,
                    recipient.display_name,
                    content,
                    thread_id=result.thread.thread_id,
                    seq=result.message.seq,
                    reference_code=result.thread.reference_code,
                    in_reply_to=in_reply_to,
                )
            except MailNotSent:
                self.idempotency.done("tls", run.notice.ses_message_id, route.address)
                self.delivery.offer_pickup(
                    recipient, associate, result.thread, result.message, reason="tls_send_refused"
                )
                continue
            self.delivery.sent_over_tls(
                result.message, recipient, sent, actor=GATEWAY_ACTOR, request=RequestInfo.system()
            )
            self.idempotency.done("tls", run.notice.ses_message_id, route.address)

    def _deliver_inside(
        self, run: _Run, associate: Account, address: str, content: SecureContent, report: RouteReport
    ) -> None:
        """Internal recipients get the mail directly (over enforced TLS, like everything we send)."""
        notice, request = run.notice, run.request
        if not self.idempotency.claim("inside", notice.ses_message_id, address, until=run.until):
            return
        try:
            sent = self.secure_mail.send(
                associate,
                address,
                "",
                content,
                thread_id=report.thread_id or "none",
                seq=0,
                reference_code="internal",
            )
        except MailNotSent:
            self.idempotency.release("inside", notice.ses_message_id, address)
            raise ServiceUnavailable() from None
        self.audit.record(
            AuditEvent.MESSAGE_DELIVERED_TLS,
            actor=GATEWAY_ACTOR,
            request=request,
            thread_id=report.thread_id,
            message_id=report.message_id,
            reason="internal_recipient",
            detail={"ses_message_id": sent.ses_message_id},
        )
        self.idempotency.done("inside", notice.ses_message_id, address)

    # --- refusals ------------------------------------------------------------------------

    def _refuse_sender(self, notice: InboundNotice, reason: str, request: RequestInfo) -> RouteReport:
        """Not an authenticated associate: audited, nothing delivered, no reply (the sender may be forged)."""
        self.audit.record(
            AuditEvent.INBOUND_SENDER_REFUSED,
            actor=GATEWAY_ACTOR,
            request=request,
            outcome=Outcome.DENIED,
            reason=reason,
            detail={"sender_domain": notice.source.rpartition("@")[2][:100]},
        )
        return RouteReport(outcome="refused", reason=reason)

    def _refuse_mail(self, notice: InboundNotice, refused: MailRefused, request: RequestInfo) -> RouteReport:
        """Malformed or oversized: audited, nothing delivered, and a notice to the authenticated sender."""
        self.audit.record(
            AuditEvent.INBOUND_MAIL_REFUSED,
            actor=GATEWAY_ACTOR,
            request=request,
            outcome=Outcome.DENIED,
            reason=str(refused.reason),
        )
        self.notifier.mail_refused(notice.source, refused.public_message)
        return RouteReport(outcome="refused", reason=str(refused.reason))


def _draft(mail: InboundMail) -> Draft:
    attachments = tuple(
        AttachmentInput(f"mail-{index}", a.filename, a.content_type) for index, a in enumerate(mail.attachments)
    )
    return Draft(subject=mail.subject or "(no subject)", text=mail.text or "", html=mail.html, attachments=attachments)


def _files(mail: InboundMail) -> list[StagedFile]:
    return [StagedFile.of_bytes(f"mail-{index}", a.data) for index, a in enumerate(mail.attachments)]


def _content(mail: InboundMail) -> SecureContent:
    return SecureContent(
        subject=mail.subject or "(no subject)",
        text=mail.text or "",
        html=mail.html,
        attachments=tuple(FileContent(a.filename, a.content_type, a.data) for a in mail.attachments),
    )
