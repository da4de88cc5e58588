"""Secure threads: start, reply, write to an associate, continue a full thread, read, remove from view.

Rules enforced here, on the server:
- R2: at most ``max_interactions`` (12) messages per thread, counted by one conditional
  update; the 13th is refused and the thread can be continued in a new, linked thread.
  Credential scope ``recipient`` gives a partner one account for all threads; ``thread``
  gives a new user name and password for every thread.
- R4/R6: subject, body and attachments are encrypted (``Encryptor``) into the message
  store; DynamoDB holds ids, sizes and ciphertext hashes only; nothing is ever deleted.
- R5: partners may address only associates on the plan's domains (``DomainFilter``).
- R8: partners reply inside their threads and may start a new message to an associate
  they already do business with.
- Every read checks membership (deny by default) and is audited.

Order of a send, so that a failure never leaves a record pointing at a missing object:
encrypt (KMS) → store ciphertext (S3) → audit → one DynamoDB transaction for every record
→ remove staged uploads → invitations and notifications.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from chalicelib import clock
from chalicelib.accounts.admin import AccountAdmin, PreparedPartner, require_associate
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import AccountRepository, UsernameTaken
from chalicelib.accounts.tokens import IssuedToken, TokenPurpose
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.dynamo import Transaction, TransactionCancelled
from chalicelib.errors import Conflict, InvalidRequest, NotFound
from chalicelib.mail.mailer import MailNotSent
from chalicelib.mail.notices import Notifier
from chalicelib.mail.secure_mail import FileContent, SecureContent, TlsDelivery
from chalicelib.messaging.domain_filter import DomainFilter
from chalicelib.messaging.drafts import Draft
from chalicelib.messaging.encryption import Binding, Encryptor, IntegrityError
from chalicelib.messaging.html_sanitize import sanitize
from chalicelib.messaging.message_store import MessageStore, attachment_key, content_key, subject_key
from chalicelib.messaging.model import (
    AttachmentRecord,
    Delivery,
    DeliveryState,
    InboxEntry,
    MessageRecord,
    StoredObject,
    Thread,
    ThreadRepository,
    new_id,
    new_reference_code,
)
from chalicelib.messaging.pickup import PickupService
from chalicelib.messaging.uploads import StagedFile, UploadService
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

PURPOSE_SUBJECT = "subject"
PURPOSE_CONTENT = "content"
PURPOSE_ATTACHMENT = "attachment"


class ThreadFull(Conflict):
    code = "thread_full"


@dataclass(frozen=True)
class AttachmentInfo:
    attachment_id: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MessageContent:
    """A message as decrypted for someone allowed to read it."""

    subject: str
    text: str
    html: str | None
    attachments: tuple[AttachmentInfo, ...]

    @property
    def safe_html(self) -> str | None:
        return sanitize(self.html) if self.html else None

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "subject": self.subject,
                "text": self.text,
                "html": self.html,
                "attachments": [a.__dict__ for a in self.attachments],
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MessageContent:
        raw = json.loads(data)
        return cls(
            subject=raw["subject"],
            text=raw["text"],
            html=raw.get("html"),
            attachments=tuple(AttachmentInfo(**a) for a in raw.get("attachments", [])),
        )


# Called once the records are stored and before anyone is notified (the gateway audits its
# routing decisions there, so that they precede the notifications in the audit trail).
Committed = Callable[[Thread, MessageRecord, list[Account]], None]


@dataclass(frozen=True)
class MessageView:
    record: MessageRecord
    content: MessageContent


@dataclass(frozen=True)
class ThreadView:
    thread: Thread
    entry: InboxEntry
    subject: str
    messages: tuple[MessageView, ...]
    participants: tuple[Account, ...]
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class InboxItem:
    entry: InboxEntry
    subject: str


@dataclass(frozen=True)
class SendResult:
    thread: Thread
    message: MessageRecord
    invited: tuple[str, ...] = ()
    notified: dict[str, bool] = field(default_factory=dict)
    participants: tuple[Account, ...] = ()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class _Plan:
    """Everything one send will write, gathered before the transaction."""

    thread: Thread
    message: MessageRecord
    new_thread: bool
    participants: list[Account]
    new_partners: list[PreparedPartner] = field(default_factory=list)
    predecessor_id: str | None = None


class MessagingService:
    def __init__(
        self,
        settings: Settings,
        accounts: AccountRepository,
        threads: ThreadRepository,
        store: MessageStore,
        encryptor: Encryptor,
        uploads: UploadService,
        admin: AccountAdmin,
        domain_filter: DomainFilter,
        notifier: Notifier,
        pickup: PickupService,
        audit: AuditLog,
        tls_delivery: TlsDelivery | None = None,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._threads = threads
        self._store = store
        self._encryptor = encryptor
        self._uploads = uploads
        self._admin = admin
        self._filter = domain_filter
        self._notifier = notifier
        self._pickup = pickup
        self._audit = audit
        # Partners' messages reach associates' mailboxes over enforced TLS (R7).
        self._tls_delivery = tls_delivery

    # === sending =========================================================================

    def start_thread(
        self, associate: Principal, recipients: list[str], draft: Draft, request: RequestInfo
    ) -> SendResult:
        """An associate starts a thread with one or more outside participants (and may copy colleagues)."""
        require_associate(associate, self._audit, request, "start_thread")
        outside = [a for a in recipients if not self._settings.is_internal_address(a)]
        if not outside:
            raise InvalidRequest("Name at least one outside participant.", field="recipients")
        colleagues = [self._associate_account(a) for a in recipients if self._settings.is_internal_address(a)]
        thread_id = new_id()
        partners, new_partners = self._outside_participants(associate.account, outside, thread_id)
        participants = [associate.account, *colleagues, *partners]
        return self._send_new_thread(associate.account, thread_id, participants, new_partners, draft, request)

    def send_from_mail(
        self,
        associate: Account,
        outside: list[str],
        draft: Draft,
        files: list[StagedFile],
        request: RequestInfo,
        *,
        join: Thread | None = None,
        by_mail: frozenset[str] = frozenset(),
        committed: Committed | None = None,
    ) -> SendResult:
        """The email gateway: an associate's mail becomes a thread, or joins the one it answers.

        ``by_mail`` are the addresses that get the message over enforced TLS; every other
        outside recipient gets a pickup link. The thread is the retained copy either way (R6).
        """
        if join is not None and not join.is_full:
            participants = [self._accounts.require(u) for u in join.participants]
            return self._send(
                associate,
                join,
                participants,
                [],
                draft,
                request,
                new_thread=False,
                files=files,
                by_mail=by_mail,
                committed=committed,
            )
        thread_id = new_id()
        partners, new_partners = self._outside_participants(associate, outside, thread_id)
        return self._send_new_thread(
            associate,
            thread_id,
            [associate, *partners],
            new_partners,
            draft,
            request,
            predecessor=join,
            files=files,
            by_mail=by_mail,
            committed=committed,
        )

    def _outside_participants(
        self, associate: Account, addresses: list[str], thread_id: str
    ) -> tuple[list[Account], list[PreparedPartner]]:
        """Existing partner accounts for these addresses, or new ones (invited by their first pickup link)."""
        accounts: list[Account] = []
        new_partners: list[PreparedPartner] = []
        for address in addresses:
            existing = self._existing_partner(address)
            if existing is not None:
                accounts.append(existing)
            else:
                prepared = self._prepare(associate, address, "", thread_id)
                new_partners.append(prepared)
                accounts.append(prepared.account)
        return accounts, new_partners

    def write_to_associates(
        self, partner: Principal, recipients: list[str], draft: Draft, request: RequestInfo
    ) -> SendResult:
        """R8: a partner starts a new message to associates they do business with (R5 enforced)."""
        if partner.account.is_associate:
            return self.start_thread(partner, recipients, draft, request)
        associates = self._filter.associates_for(partner, recipients, request)
        thread_id = new_id()
        sender, new_partners = self._partner_in_new_thread(partner, associates[0], thread_id)
        participants = [sender, *associates]
        return self._send_new_thread(
            partner.account, thread_id, participants, new_partners, draft, request, sender=sender
        )

    def reply(self, principal: Principal, thread_id: str, draft: Draft, request: RequestInfo) -> SendResult:
        thread, _entry = self._member_thread(principal, thread_id, request)
        if thread.is_full:
            raise self._full(thread)
        participants = [self._accounts.require(u) for u in thread.participants]
        return self._send(principal.account, thread, participants, [], draft, request, new_thread=False)

    def continue_thread(self, principal: Principal, thread_id: str, draft: Draft, request: RequestInfo) -> SendResult:
        """Start a new thread linked to a full one, with the same people (R2)."""
        old, _entry = self._member_thread(principal, thread_id, request)
        if not old.is_full:
            raise Conflict("This thread still has room; reply in it instead.")
        if old.successor_id:
            raise Conflict("This thread has already been continued; write in the newer thread.")
        thread_id = new_id()
        participants: list[Account] = []
        new_partners: list[PreparedPartner] = []
        sender = principal.account
        inviter = self._accounts.require(old.created_by) if principal.account.role is Role.PARTNER else None
        for username in old.participants:
            account = self._accounts.require(username)
            if account.status is Status.TERMINATED:
                continue
            if account.role is Role.PARTNER and self._settings.credential_scope == "thread":
                # A new thread means a new user name and password for each outside participant.
                invited_by = inviter or principal.account
                prepared = self._prepare_for(invited_by, account, thread_id)
                new_partners.append(prepared)
                participants.append(prepared.account)
                if account.username == principal.account.username:
                    sender = prepared.account
            else:
                participants.append(account)
        return self._send_new_thread(
            principal.account, thread_id, participants, new_partners, draft, request, sender=sender, predecessor=old
        )

    # --- the shared send path ---------------------------------------------------------------

    def _send_new_thread(
        self,
        actor: Account,
        thread_id: str,
        participants: list[Account],
        new_partners: list[PreparedPartner],
        draft: Draft,
        request: RequestInfo,
        *,
        sender: Account | None = None,
        predecessor: Thread | None = None,
        files: list[StagedFile] | None = None,
        by_mail: frozenset[str] = frozenset(),
        committed: Committed | None = None,
    ) -> SendResult:
        if not draft.subject:
            raise InvalidRequest("The subject is required.", field="subject")
        unique = list({a.username: a for a in participants}.values())
        now = clock.iso(clock.now())
        subject = self._store.put(
            subject_key(thread_id),
            self._encryptor.encrypt(
                Binding(thread_id, "-", "subject"), draft.subject.encode(), purpose=PURPOSE_SUBJECT
            ),
        )
        thread = Thread(
            thread_id=thread_id,
            reference_code=new_reference_code(),
            created_at=now,
            created_by=(sender or actor).username,
            participants=tuple(a.username for a in unique),
            associates=tuple(a.username for a in unique if a.is_associate),
            interaction_count=0,
            max_interactions=self._settings.max_interactions,
            last_activity_at=now,
            subject=subject,
            predecessor_id=predecessor.thread_id if predecessor else None,
        )
        return self._send(
            actor,
            thread,
            unique,
            new_partners,
            draft,
            request,
            new_thread=True,
            sender=sender,
            files=files,
            by_mail=by_mail,
            committed=committed,
        )

    def _send(
        self,
        actor: Account,
        thread: Thread,
        participants: list[Account],
        new_partners: list[PreparedPartner],
        draft: Draft,
        request: RequestInfo,
        *,
        new_thread: bool,
        sender: Account | None = None,
        files: list[StagedFile] | None = None,
        by_mail: frozenset[str] = frozenset(),
        committed: Committed | None = None,
    ) -> SendResult:
        """``files``: attachments already at hand (mail); otherwise the draft's uploads are claimed.
        ``by_mail``: addresses that receive the message by TLS mail, so get no pickup link."""
        sender = sender or actor
        uploader = actor.username
        staged = files if files is not None else self._uploads.claim(uploader, [a.upload_id for a in draft.attachments])
        message_id = new_id()
        seq = thread.interaction_count + 1
        content, attachments = self._encrypt_and_store(thread.thread_id, message_id, draft, staged)
        message = MessageRecord(
            thread_id=thread.thread_id,
            message_id=message_id,
            seq=seq,
            sender=sender.username,
            sender_role=str(sender.role),
            created_at=clock.iso(clock.now()),
            content=content,
            attachments=attachments,
        )
        plan = _Plan(thread, message, new_thread, participants, new_partners)
        previous = self._previous_message(thread) if not new_thread else None
        self._audit_send(actor, plan, previous, request)
        self._commit(plan, request, actor)
        if files is None:
            self._uploads.discard(uploader, [s.upload_id for s in staged])
        stored = replace_count(thread, seq, message.created_at)
        if committed is not None:
            committed(stored, message, participants)
        mail_content = SecureContent(
            subject=draft.subject or self._subject(stored),
            text=draft.text,
            html=draft.html,
            attachments=tuple(
                FileContent(wanted.filename, wanted.content_type, file.data)
                for wanted, file in zip(draft.attachments, staged, strict=True)
            ),
        )
        notified = self._announce(actor, sender, plan, stored, mail_content, by_mail)
        return SendResult(
            thread=stored,
            message=message,
            invited=tuple(p.account.username for p in new_partners),
            notified=notified,
            participants=tuple(participants),
        )

    def _encrypt_and_store(
        self, thread_id: str, message_id: str, draft: Draft, staged: list[StagedFile]
    ) -> tuple[StoredObject, tuple[AttachmentRecord, ...]]:
        # Everything is encrypted before anything is stored: a KMS failure stores nothing.
        infos: list[AttachmentInfo] = []
        sealed_files: list[tuple[str, bytes]] = []
        for wanted, file in zip(draft.attachments, staged, strict=True):
            attachment_id = new_id()
            infos.append(AttachmentInfo(attachment_id, wanted.filename, wanted.content_type, len(file.data)))
            binding = Binding(thread_id, message_id, "attachment:" + attachment_id)
            sealed_files.append(
                (attachment_id, self._encryptor.encrypt(binding, file.data, purpose=PURPOSE_ATTACHMENT))
            )
        content = MessageContent(draft.subject, draft.text, draft.html, tuple(infos))
        content_ciphertext = self._encryptor.encrypt(
            Binding(thread_id, message_id, "content"), content.to_bytes(), purpose=PURPOSE_CONTENT
        )
        records = tuple(
            AttachmentRecord(aid, self._store.put(attachment_key(thread_id, message_id, aid), data))
            for aid, data in sealed_files
        )
        stored_content = self._store.put(content_key(thread_id, message_id), content_ciphertext)
        return stored_content, records

    def _audit_send(self, actor: Account, plan: _Plan, previous: MessageRecord | None, request: RequestInfo) -> None:
        thread, message = plan.thread, plan.message
        for prepared in plan.new_partners:
            self._audit.record(
                AuditEvent.ACCOUNT_CREATED,
                actor=actor.actor,
                request=request,
                account=prepared.account.username,
                thread_id=thread.thread_id,
                detail={"role": str(Role.PARTNER), "credential_scope": self._settings.credential_scope},
            )
        if plan.new_thread:
            detail: dict[str, str | int | bool] = {"participants": len(thread.participants)}
            if thread.predecessor_id:
                detail["continues"] = thread.predecessor_id
            self._audit.record(
                AuditEvent.THREAD_CREATED,
                actor=actor.actor,
                request=request,
                thread_id=thread.thread_id,
                detail=detail,
            )
        sent_detail: dict[str, str | int | bool] = {
            "seq": message.seq,
            "attachments": len(message.attachments),
            "recipients": len(thread.participants) - 1,
        }
        if previous is not None:
            sent_detail["in_reply_to"] = previous.message_id
        self._audit.record(
            AuditEvent.MESSAGE_SENT,
            actor=actor.actor,
            request=request,
            thread_id=thread.thread_id,
            message_id=message.message_id,
            detail=sent_detail,
        )
        if previous is not None and previous.sender != message.sender:
            self._audit.record(
                AuditEvent.MESSAGE_REPLIED,
                actor=actor.actor,
                request=request,
                thread_id=thread.thread_id,
                message_id=previous.message_id,
                detail={"reply": message.message_id},
            )

    def _commit(self, plan: _Plan, request: RequestInfo, actor: Account) -> None:
        tx = Transaction()
        slots = [
            self._accounts.add_creation(tx, p.account, claim_email=self._settings.credential_scope == "recipient")
            for p in plan.new_partners
        ]
        for prepared in plan.new_partners:
            tx.put(self._admin_tokens_table(), prepared.invitation.item())
        thread, message = plan.thread, plan.message
        if plan.new_thread:
            entries = [self._entry_for(account, thread, message) for account in plan.participants]
            committed = replace_count(thread, message.seq, message.created_at)
            self._threads.add_new_thread(tx, committed, message, entries)
            if thread.predecessor_id:
                self._threads.add_successor_link(tx, thread.predecessor_id, thread.thread_id)
        else:
            self._threads.add_message(tx, thread, message)
        try:
            tx.execute(self._threads.client())
        except TransactionCancelled as cancelled:
            self._audit.record(
                AuditEvent.MESSAGE_SENT,
                actor=actor.actor,
                request=request,
                outcome=Outcome.FAILURE,
                thread_id=thread.thread_id,
                message_id=message.message_id,
                reason="not_committed",
            )
            for slot in slots:
                try:
                    slot.raise_for(cancelled)
                except UsernameTaken:
                    raise Conflict("Please send the message again.") from None
            current = self._threads.thread(thread.thread_id)
            if current is not None and current.is_full:
                raise self._full(current) from None
            raise Conflict(
                "Another message was sent to this thread at the same moment. Please reload and send again."
            ) from None

    def _announce(
        self,
        actor: Account,
        sender: Account,
        plan: _Plan,
        thread: Thread,
        content: SecureContent,
        by_mail: frozenset[str] = frozenset(),
    ) -> dict[str, bool]:
        """Pickup links for outside participants, notices for associates. No PHI in any of them."""
        notified: dict[str, bool] = {}
        new_links = {p.account.username: p.invitation for p in plan.new_partners}
        for account in plan.participants:
            is_new = account.username in new_links
            if account.username in (sender.username, actor.username) and not is_new:
                continue
            if account.is_associate:
                if sender.role is Role.PARTNER and self._mail_to_associate(account, sender, thread, plan, content):
                    notified[account.username] = True
                    continue
                notified[account.username] = self._notifier.new_message(
                    account, sender, thread.reference_code, thread.thread_id
                )
                self._deliver(plan.message, account, DeliveryState.PORTAL)
                self._audit.record(
                    AuditEvent.MESSAGE_NOTIFICATION_SENT,
                    actor=Actor.system(),
                    request=RequestInfo.system(),
                    outcome=Outcome.SUCCESS if notified[account.username] else Outcome.FAILURE,
                    account=account.username,
                    thread_id=thread.thread_id,
                    message_id=plan.message.message_id,
                )
            elif account.status is not Status.TERMINATED and account.email not in by_mail:
                issued = new_links.get(account.username)
                if issued is None:
                    issued = self._pickup.issue(account, thread.thread_id, sender.username)
                    self._tokens_save(issued)
                notified[account.username] = self._pickup.send(account, sender, thread, issued, plan.message.message_id)
                state = (
                    DeliveryState.PICKUP_NOTIFIED if notified[account.username] else DeliveryState.NOTIFICATION_FAILED
                )
                self._deliver(plan.message, account, state)
        return notified

    def _mail_to_associate(
        self, associate: Account, sender: Account, thread: Thread, plan: _Plan, content: SecureContent
    ) -> bool:
        """A partner's message, in full, to the associate's own mailbox over enforced TLS."""
        if self._tls_delivery is None:
            return False
        try:
            sent = self._tls_delivery.send(
                sender,
                associate.email,
                associate.display_name,
                content,
                thread_id=thread.thread_id,
                seq=plan.message.seq,
                reference_code=thread.reference_code,
            )
        except MailNotSent:
            return False
        self._threads.remember_mail_ids(thread.thread_id, [sent.message_id])
        self._deliver(plan.message, associate, DeliveryState.SENT_TLS, "sent")
        self._audit.record(
            AuditEvent.MESSAGE_DELIVERED_TLS,
            actor=Actor.system(),
            request=RequestInfo.system(),
            account=associate.username,
            thread_id=thread.thread_id,
            message_id=plan.message.message_id,
            detail={"ses_message_id": sent.ses_message_id},
        )
        return True

    def _deliver(self, message: MessageRecord, account: Account, state: DeliveryState, reason: str = "") -> None:
        self._threads.record_delivery(
            Delivery(message.thread_id, message.seq, account.username, state, clock.iso(clock.now()), reason)
        )

    def business_associates(self, partner: Account) -> set[str]:
        return self._filter.business_associates(partner)

    # === reading =========================================================================

    def inbox(self, principal: Principal) -> list[InboxItem]:
        entries = [e for e in self._threads.inbox(principal.account.username) if not e.hidden]
        if principal.account.thread_id:  # credential scope "thread": this account sees its own thread only
            entries = [e for e in entries if e.thread_id == principal.account.thread_id]
        entries.sort(key=lambda e: e.last_activity_at, reverse=True)
        items = []
        for entry in entries:
            thread = self._threads.thread(entry.thread_id)
            if thread is None:
                continue
            items.append(InboxItem(entry=entry, subject=self._subject(thread)))
        return items

    def thread_view(self, principal: Principal, thread_id: str, request: RequestInfo) -> ThreadView:
        thread, entry = self._member_thread(principal, thread_id, request)
        views = []
        for record in self._threads.messages(thread_id):
            content = self._content(principal, record, request)
            self._audit.record(
                AuditEvent.MESSAGE_OPENED,
                actor=principal.actor,
                request=request,
                thread_id=thread_id,
                message_id=record.message_id,
            )
            if principal.account.username != record.sender and principal.account.username not in record.opened_by:
                when = clock.iso(clock.now())
                self._threads.mark_opened(thread_id, record.seq, principal.account.username, when)
                record = replace(record, opened_by={**record.opened_by, principal.account.username: when})
            views.append(MessageView(record=record, content=content))
        self._threads.mark_read(principal.account.username, thread_id, thread.interaction_count)
        participants = tuple(a for a in (self._accounts.get(u) for u in thread.participants) if a is not None)
        deliveries = tuple(self._threads.deliveries(thread_id)) if principal.account.is_associate else ()
        return ThreadView(thread, entry, self._subject(thread), tuple(views), participants, deliveries)

    def attachment(
        self, principal: Principal, thread_id: str, message_id: str, attachment_id: str, request: RequestInfo
    ) -> tuple[AttachmentRecord, AttachmentInfo]:
        """Check that ``principal`` may fetch the attachment and audit the download; returns what to deliver."""
        self._member_thread(principal, thread_id, request)
        record, found = self._locate(thread_id, message_id, attachment_id)
        info = self._info(self._content(principal, record, request), attachment_id)
        if info is None:
            raise self._tampered(principal, record, request)
        self._audit.record(
            AuditEvent.MESSAGE_DOWNLOADED,
            actor=principal.actor,
            request=request,
            thread_id=thread_id,
            message_id=message_id,
            detail={"attachment": attachment_id, "size": info.size},
        )
        return found, info

    def attachment_for_delivery(
        self, thread_id: str, message_id: str, attachment_id: str
    ) -> tuple[AttachmentRecord, AttachmentInfo]:
        """For the Object Lambda download path, whose presigned URL was issued (and audited) by ``attachment``."""
        record, found = self._locate(thread_id, message_id, attachment_id)
        info = self._info(self._decrypt_content(record), attachment_id)
        if info is None:
            raise IntegrityError()
        return found, info

    def _locate(self, thread_id: str, message_id: str, attachment_id: str) -> tuple[MessageRecord, AttachmentRecord]:
        record = next((m for m in self._threads.messages(thread_id) if m.message_id == message_id), None)
        found = record.attachment(attachment_id) if record else None
        if record is None or found is None:
            raise NotFound("There is no such attachment.")
        return record, found

    @staticmethod
    def _info(content: MessageContent, attachment_id: str) -> AttachmentInfo | None:
        return next((a for a in content.attachments if a.attachment_id == attachment_id), None)

    def open_attachment(
        self, record: AttachmentRecord, info: AttachmentInfo, thread_id: str, message_id: str
    ) -> Attachment:
        binding = Binding(thread_id, message_id, "attachment:" + record.attachment_id)
        data = self._encryptor.decrypt(binding, self._store.get(record.stored), purpose=PURPOSE_ATTACHMENT)
        return Attachment(filename=info.filename, content_type=info.content_type, data=data)

    def remove_from_view(self, principal: Principal, thread_id: str, request: RequestInfo) -> None:
        """R6: the thread leaves this user's inbox; the retained copy stays for the retention period."""
        self._member_thread(principal, thread_id, request)
        self._audit.record(
            AuditEvent.THREAD_REMOVED_FROM_VIEW, actor=principal.actor, request=request, thread_id=thread_id
        )
        self._threads.hide(principal.account.username, thread_id)

    # === helpers =========================================================================

    def _member_thread(self, principal: Principal, thread_id: str, request: RequestInfo) -> tuple[Thread, InboxEntry]:
        """The thread, if ``principal`` takes part in it; otherwise 404 (and the attempt is audited)."""
        entry = self._threads.entry(principal.account.username, thread_id) if _looks_like_id(thread_id) else None
        scoped = principal.account.thread_id
        thread = self._threads.thread(thread_id) if entry is not None and (not scoped or scoped == thread_id) else None
        if entry is None or thread is None:
            self._audit.record(
                AuditEvent.ACCESS_DENIED,
                actor=principal.actor,
                request=request,
                outcome=Outcome.DENIED,
                thread_id=thread_id if _looks_like_id(thread_id) else None,
                reason="not_a_participant",
            )
            raise NotFound("There is no such thread.")
        return thread, entry

    def _decrypt_content(self, record: MessageRecord) -> MessageContent:
        binding = Binding(record.thread_id, record.message_id, "content")
        plaintext = self._encryptor.decrypt(binding, self._store.get(record.content), purpose=PURPOSE_CONTENT)
        return MessageContent.from_bytes(plaintext)

    def _content(self, principal: Principal, record: MessageRecord, request: RequestInfo) -> MessageContent:
        """The decrypted message for a reader; a failed integrity check is audited as tampering."""
        try:
            return self._decrypt_content(record)
        except IntegrityError:
            raise self._tampered(principal, record, request) from None

    def _tampered(self, principal: Principal, record: MessageRecord, request: RequestInfo) -> IntegrityError:
        self._audit.record(
            AuditEvent.TAMPER_DETECTED,
            actor=principal.actor,
            request=request,
            outcome=Outcome.FAILURE,
            thread_id=record.thread_id,
            message_id=record.message_id,
            reason="integrity_check_failed",
        )
        return IntegrityError()

    def _subject(self, thread: Thread) -> str:
        binding = Binding(thread.thread_id, "-", "subject")
        try:
            return self._encryptor.decrypt(binding, self._store.get(thread.subject), purpose=PURPOSE_SUBJECT).decode()
        except IntegrityError:
            return "(this subject failed its integrity check)"

    def _previous_message(self, thread: Thread) -> MessageRecord | None:
        messages = self._threads.messages(thread.thread_id)
        return messages[-1] if messages else None

    def _full(self, thread: Thread) -> ThreadFull:
        return ThreadFull(
            f"This thread has reached its limit of {thread.max_interactions} messages. "
            "Continue the conversation in a new thread linked to this one."
        )

    def _scoped(self, thread_id: str) -> str | None:
        return thread_id if self._settings.credential_scope == "thread" else None

    def _associate_account(self, address: str) -> Account:
        account = self._accounts.get(address)
        if account is None or account.role is not Role.ASSOCIATE or account.status is not Status.ACTIVE:
            raise InvalidRequest(f"{address} is not an associate with a Sealpost account.", field="recipients")
        return account

    def _existing_partner(self, address: str) -> Account | None:
        if self._settings.credential_scope == "thread":
            return None
        username = self._accounts.username_for_email(address)
        if username is None:
            return None
        account = self._accounts.require(username)
        if account.status is Status.TERMINATED:
            raise Conflict(f"The account for {address} has been terminated; it cannot receive messages.")
        return account

    def _prepare_for(self, associate: Account, partner: Account, thread_id: str) -> PreparedPartner:
        return self._prepare(associate, partner.email, partner.display_name, thread_id)

    def _prepare(self, associate: Account, email: str, display_name: str, thread_id: str) -> PreparedPartner:
        """A new partner account whose first link is a pickup link for ``thread_id`` (it registers them)."""
        return self._admin.prepare_partner(
            associate,
            email,
            display_name,
            thread_id=self._scoped(thread_id),
            link_purpose=TokenPurpose.PICKUP,
            link_thread_id=thread_id,
        )

    def _partner_in_new_thread(
        self, partner: Principal, associate: Account, thread_id: str
    ) -> tuple[Account, list[PreparedPartner]]:
        if self._settings.credential_scope != "thread":
            return partner.account, []
        prepared = self._prepare_for(associate, partner.account, thread_id)
        return prepared.account, [prepared]

    def _entry_for(self, account: Account, thread: Thread, message: MessageRecord) -> InboxEntry:
        return InboxEntry(
            username=account.username,
            thread_id=thread.thread_id,
            reference_code=thread.reference_code,
            role=str(account.role),
            associates=thread.associates,
            interaction_count=message.seq,
            max_interactions=thread.max_interactions,
            last_activity_at=message.created_at,
            read_count=message.seq if account.username == message.sender else 0,
        )

    def _admin_tokens_table(self) -> str:
        return self._admin.tokens_table

    def _tokens_save(self, issued: IssuedToken) -> None:
        self._admin.save_token(issued)


def replace_count(thread: Thread, count: int, when: str) -> Thread:
    return replace(thread, interaction_count=count, last_activity_at=when)


def _looks_like_id(value: str) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
