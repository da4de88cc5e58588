"""Sending secure messages: start a thread, reply, write to an associate, continue a full thread
(the portal and the API), and the two steps the mail gateway uses (a new thread, a message in
a thread).

Rules enforced here, on the server:
- R2: at most ``max_interactions`` (12) messages per thread, counted by one conditional
  update; the 13th is refused and the thread can be continued in a new, linked thread.
- R4/R6: subject, body and attachments are encrypted into the message store (``MessageVault``);
  DynamoDB holds ids, sizes and ciphertext hashes only; nothing is ever deleted.
- R5: partners may address only associates on the plan's domains (``DomainFilter``).
- R8: partners reply inside their threads and may start a new message to an associate they
  already do business with.

Order of a send, so that a failure never leaves a record pointing at a missing object:
encrypt (KMS) → store ciphertext (S3) → audit → one DynamoDB transaction for every record
→ remove staged uploads → invitations and notifications (``MessageDelivery``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import clock
from chalicelib.accounts.admin import PreparedPartner, require_associate
from chalicelib.accounts.model import Account, Role, Status
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import AccountRepository, CreationSlots, UsernameTaken
from chalicelib.accounts.tokens import TokenStore
from chalicelib.audit.records import AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.dynamo import Transaction, TransactionCancelled
from chalicelib.errors import Conflict, InvalidRequest
from chalicelib.limits import MAX_MAILED_ATTACHMENT_BYTES
from chalicelib.mail.secure_mail import FileContent, SecureContent
from chalicelib.messaging.access import ThreadAccess
from chalicelib.messaging.delivery import MessageDelivery
from chalicelib.messaging.domain_filter import DomainFilter
from chalicelib.messaging.drafts import Draft
from chalicelib.messaging.model import DeliveryState, InboxEntry, MessageRecord, Thread, new_id, new_reference_code
from chalicelib.messaging.participants import Participants
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.messaging.uploads import StagedFile, UploadService
from chalicelib.messaging.vault import MessageVault
from chalicelib.settings import Settings

# DynamoDB's TransactWriteItems limit.
MAX_TRANSACTION_ITEMS = 100


class ThreadFull(Conflict):
    code = "thread_full"


def thread_full(thread: Thread) -> ThreadFull:
    return ThreadFull(
        f"This thread has reached its limit of {thread.max_interactions} messages. "
        "Continue the conversation in a new thread linked to this one."
    )


# Called once the records are stored and before anyone is notified (the gateway audits its
# routing decisions there, so that they precede the notifications in the audit trail).
Committed = Callable[[Thread, MessageRecord, list[Account]], None]
# (thread id, message id) → the (table, item) a send by mail stores with its message.
Marker = Callable[[str, str], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class ByMail:
    """A message that came by mail: its files are at hand, ``tls`` addresses get it over enforced
    TLS from the gateway (so no pickup link), and ``committed`` runs before the notifications.

    ``message_id`` is the gateway's id for the message (the same on every retry of the mail) and
    ``marker(thread_id, message_id)`` the (table, item) stored in the very transaction that commits
    it, naming the thread it went to: whether the mail was already posted is then one read, and a
    retry resumes instead of posting again."""

    files: Sequence[StagedFile]
    tls: frozenset[str] = frozenset()
    committed: Committed | None = None
    message_id: str | None = None
    marker: Marker | None = None


@dataclass(frozen=True)
class SendResult:
    thread: Thread
    message: MessageRecord
    invited: tuple[str, ...] = ()
    notified: dict[str, bool] = field(default_factory=dict)
    participants: tuple[Account, ...] = ()


@dataclass(frozen=True)
class _Plan:
    """Who sends what where: gathered before anything is encrypted."""

    thread: Thread
    sender: Account
    new_thread: bool
    participants: list[Account]
    new_partners: list[PreparedPartner] = field(default_factory=list)


@dataclass(frozen=True)
class MessageSender:
    settings: Settings
    accounts: AccountRepository
    threads: ThreadRepository
    tokens: TokenStore
    vault: MessageVault
    uploads: UploadService
    participants: Participants
    domain_filter: DomainFilter
    access: ThreadAccess
    delivery: MessageDelivery
    audit: AuditLog

    # === the portal and the API ==========================================================

    def start(
        self,
        principal: Principal,
        recipients: list[str],
        draft: Draft,
        request: RequestInfo,
        names: Mapping[str, str] | None = None,
    ) -> SendResult:
        """A new thread by whoever writes: an associate to outside participants, a partner to associates.
        ``names``: display names given with addresses, for partner accounts created for them."""
        if principal.account.is_associate:
            return self.start_thread(principal, recipients, draft, request, names)
        return self.write_to_associates(principal, recipients, draft, request)

    def start_thread(
        self,
        associate: Principal,
        recipients: list[str],
        draft: Draft,
        request: RequestInfo,
        names: Mapping[str, str] | None = None,
    ) -> SendResult:
        """An associate starts a thread with one or more outside participants (and may copy colleagues)."""
        require_associate(associate, self.audit, request, "start_thread")
        outside = [a for a in recipients if not self.settings.is_internal_address(a)]
        if not outside:
            raise InvalidRequest("Name at least one outside participant.", field="recipients")
        colleagues = [self.participants.associate(a) for a in recipients if self.settings.is_internal_address(a)]
        thread_id = new_id()
        partners, new_partners = self.participants.outside(associate.account, outside, thread_id, names)
        people = [associate.account, *colleagues, *partners]
        return self.new_thread(associate.account, thread_id, people, new_partners, draft, request)

    def write_to_associates(
        self, partner: Principal, recipients: list[str], draft: Draft, request: RequestInfo
    ) -> SendResult:
        """R8: a partner starts a new message to associates they do business with (R5 enforced)."""
        associates = self.domain_filter.associates_for(partner, recipients, request)
        thread_id = new_id()
        sender, new_partners = partner.account, []
        if self.participants.per_thread:
            prepared = self.participants.again_for(associates[0], partner.account, thread_id)
            sender, new_partners = prepared.account, [prepared]
        return self.new_thread(
            partner.account, thread_id, [sender, *associates], new_partners, draft, request, sender=sender
        )

    def reply(self, principal: Principal, thread_id: str, draft: Draft, request: RequestInfo) -> SendResult:
        thread, _entry = self.access.member_thread(principal, thread_id, request)
        if thread.is_full:
            raise thread_full(thread)
        people = [self.accounts.require(u) for u in thread.participants]
        return self.add_to_thread(principal.account, thread, people, draft, request)

    def continue_thread(self, principal: Principal, thread_id: str, draft: Draft, request: RequestInfo) -> SendResult:
        """Start a new thread linked to a full one, with the same people (R2)."""
        old, _entry = self.access.member_thread(principal, thread_id, request)
        if not old.is_full:
            raise Conflict("This thread still has room; reply in it instead.")
        if old.successor_id:
            raise Conflict("This thread has already been continued; write in the newer thread.")
        thread_id = new_id()
        people: list[Account] = []
        new_partners: list[PreparedPartner] = []
        sender = principal.account
        inviter = self.accounts.require(old.created_by) if principal.account.role is Role.PARTNER else None
        for username in old.participants:
            account = self.accounts.require(username)
            if account.status is Status.TERMINATED:
                continue
            if account.role is Role.PARTNER and self.participants.per_thread:
                # A new thread means a new user name and password for each outside participant.
                prepared = self.participants.again_for(inviter or principal.account, account, thread_id)
                new_partners.append(prepared)
                people.append(prepared.account)
                if account.username == principal.account.username:
                    sender = prepared.account
            else:
                people.append(account)
        return self.new_thread(
            principal.account, thread_id, people, new_partners, draft, request, sender=sender, predecessor=old
        )

    # === the two steps every send takes (the gateway calls them too) =====================

    def new_thread(
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
        by_mail: ByMail | None = None,
    ) -> SendResult:
        if not draft.subject:
            raise InvalidRequest("The subject is required.", field="subject")
        unique = list({a.username: a for a in participants}.values())
        now = clock.iso(clock.now())
        thread = Thread(
            thread_id=thread_id,
            reference_code=new_reference_code(),
            created_at=now,
            created_by=(sender or actor).username,
            participants=tuple(a.username for a in unique),
            associates=tuple(a.username for a in unique if a.is_associate),
            interaction_count=0,
            max_interactions=self.settings.max_interactions,
            last_activity_at=now,
            subject=self.vault.seal_subject(thread_id, draft.subject),
            predecessor_id=predecessor.thread_id if predecessor else None,
        )
        return self._send(actor, _Plan(thread, sender or actor, True, unique, new_partners), draft, request, by_mail)

    def add_to_thread(
        self,
        actor: Account,
        thread: Thread,
        participants: list[Account],
        draft: Draft,
        request: RequestInfo,
        *,
        by_mail: ByMail | None = None,
    ) -> SendResult:
        return self._send(actor, _Plan(thread, actor, False, participants), draft, request, by_mail)

    # --- the shared send path ----------------------------------------------------------------

    def _send(
        self, actor: Account, plan: _Plan, draft: Draft, request: RequestInfo, by_mail: ByMail | None
    ) -> SendResult:
        uploader = actor.username
        files = (
            list(by_mail.files)
            if by_mail is not None
            else self.uploads.claim(uploader, [a.upload_id for a in draft.attachments])
        )
        thread = plan.thread
        message_id = by_mail.message_id if by_mail is not None and by_mail.message_id else new_id()
        content, attachments = self.vault.seal_message(thread.thread_id, message_id, draft, files)
        message = MessageRecord(
            thread_id=thread.thread_id,
            message_id=message_id,
            seq=thread.interaction_count + 1,
            sender=plan.sender.username,
            sender_role=str(plan.sender.role),
            created_at=clock.iso(clock.now()),
            content=content,
            attachments=attachments,
        )
        previous = None if plan.new_thread else self._previous_message(thread)
        self._audit_send(actor, plan, message, previous, request)
        self._commit(actor, plan, message, request, by_mail.marker if by_mail is not None else None)
        stored = replace(thread, interaction_count=message.seq, last_activity_at=message.created_at)
        mail_content = self._mail_content(plan.sender, stored, draft, files)
        if by_mail is None:
            self.uploads.discard(uploader, [s.upload_id for s in files])
        if by_mail is not None and by_mail.committed is not None:
            by_mail.committed(stored, message, plan.participants)
        notified = self.delivery.announce(
            actor,
            plan.sender,
            plan.participants,
            stored,
            message,
            mail_content,
            new_links={p.account.username: p.invitation for p in plan.new_partners},
            by_mail=by_mail.tls if by_mail is not None else frozenset(),
        )
        return SendResult(
            thread=stored,
            message=message,
            invited=tuple(p.account.username for p in plan.new_partners),
            notified=notified,
            participants=tuple(plan.participants),
        )

    def _mail_content(
        self, sender: Account, thread: Thread, draft: Draft, files: Sequence[StagedFile]
    ) -> SecureContent | None:
        """What a partner's message carries to associates' mailboxes over TLS (read before the staged
        files go); None when nobody gets it by mail or its attachments are too large for a mail."""
        if sender.role is not Role.PARTNER or sum(f.size for f in files) > MAX_MAILED_ATTACHMENT_BYTES:
            return None
        return SecureContent(
            subject=draft.subject or self.vault.subject(thread),
            text=draft.text,
            html=draft.html,
            attachments=tuple(
                FileContent(wanted.filename, wanted.content_type, file.read())
                for wanted, file in zip(draft.attachments, files, strict=True)
            ),
        )

    def _previous_message(self, thread: Thread) -> MessageRecord | None:
        messages = self.threads.messages(thread.thread_id)
        return messages[-1] if messages else None

    def _audit_send(
        self, actor: Account, plan: _Plan, message: MessageRecord, previous: MessageRecord | None, request: RequestInfo
    ) -> None:
        thread = plan.thread
        for prepared in plan.new_partners:
            self.audit.record(
                AuditEvent.ACCOUNT_CREATED,
                actor=actor.actor,
                request=request,
                account=prepared.account.username,
                thread_id=thread.thread_id,
                detail={"role": str(Role.PARTNER), "credential_scope": self.settings.credential_scope},
            )
        if plan.new_thread:
            detail: dict[str, str | int | bool] = {"participants": len(thread.participants)}
            if thread.predecessor_id:
                detail["continues"] = thread.predecessor_id
            self.audit.record(
                AuditEvent.THREAD_CREATED, actor=actor.actor, request=request, thread_id=thread.thread_id, detail=detail
            )
        sent_detail: dict[str, str | int | bool] = {
            "seq": message.seq,
            "attachments": len(message.attachments),
            "recipients": len(thread.participants) - 1,
        }
        if previous is not None:
            sent_detail["in_reply_to"] = previous.message_id
        self.audit.record(
            AuditEvent.MESSAGE_SENT,
            actor=actor.actor,
            request=request,
            thread_id=thread.thread_id,
            message_id=message.message_id,
            detail=sent_detail,
        )
        if previous is not None and previous.sender != message.sender:
            self.audit.record(
                AuditEvent.MESSAGE_REPLIED,
                actor=actor.actor,
                request=request,
                thread_id=thread.thread_id,
                message_id=previous.message_id,
                detail={"reply": message.message_id},
            )

    def _commit(
        self,
        actor: Account,
        plan: _Plan,
        message: MessageRecord,
        request: RequestInfo,
        marker: Marker | None,
    ) -> None:
        """Store the send. One transaction when it fits (up to 100 items); otherwise, for many new
        partners or participants: the partners in transactions of whole partners (account, address
        claim, first link), then the commit point (the thread or message, ``marker``, and the entries
        that fit), then the other entries one by one, each write one a resumed send may repeat."""
        claim_email = self.settings.credential_scope == "recipient"
        per_partner = 3 if claim_email else 2
        thread = plan.thread
        committed = replace(thread, interaction_count=message.seq, last_activity_at=message.created_at)
        entries = [_entry_for(account, committed, message) for account in plan.participants]
        core_items = 2 + (marker is not None) + bool(plan.new_thread and thread.predecessor_id)
        room = MAX_TRANSACTION_ITEMS - core_items
        fits = len(plan.new_partners) * per_partner + len(entries) <= room
        try:
            if fits:
                tx, slots = self._partners_transaction(plan.new_partners, claim_email)
                inline = entries
            else:
                size = MAX_TRANSACTION_ITEMS // per_partner
                for start in range(0, len(plan.new_partners), size):
                    group = plan.new_partners[start : start + size]
                    self._execute(*self._partners_transaction(group, claim_email), thread)
                tx, slots = Transaction(), []
                inline = entries[:room]
            if plan.new_thread:
                self.threads.add_new_thread(tx, committed, message, inline)
                if thread.predecessor_id:
                    self.threads.add_successor_link(tx, thread.predecessor_id, thread.thread_id)
            else:
                self.threads.add_message(tx, thread, message, [e.username for e in inline])
            if marker is not None:
                tx.put(*marker(thread.thread_id, message.message_id))
            self._execute(tx, slots, thread)
            rest = entries[len(inline) :]
            if plan.new_thread:
                self.threads.put_entries_once(rest)
            else:
                self.threads.advance_entries(thread.thread_id, [e.username for e in rest], message)
        except Exception:
            # The audit trail already says it was sent: it must also say it was not.
            self.audit.record(
                AuditEvent.MESSAGE_SENT,
                actor=actor.actor,
                request=request,
                outcome=Outcome.FAILURE,
                thread_id=thread.thread_id,
                message_id=message.message_id,
                reason="not_committed",
            )
            raise

    def _partners_transaction(
        self, partners: Sequence[PreparedPartner], claim_email: bool
    ) -> tuple[Transaction, list[CreationSlots]]:
        tx = Transaction()
        slots = [self.accounts.add_creation(tx, p.account, claim_email=claim_email) for p in partners]
        for prepared in partners:
            tx.put(self.tokens.table_name, prepared.invitation.item())
        return tx, slots

    def _execute(self, tx: Transaction, slots: list[CreationSlots], thread: Thread) -> None:
        try:
            tx.execute(self.threads.client())
        except TransactionCancelled as cancelled:
            for slot in slots:
                try:
                    slot.raise_for(cancelled)
                except UsernameTaken:
                    raise Conflict("Please send the message again.") from None
            current = self.threads.thread(thread.thread_id)
            if current is not None and current.is_full:
                raise thread_full(current) from None
            raise Conflict(
                "Another message was sent to this thread at the same moment. Please reload and send again."
            ) from None

    # === a send the gateway resumes after a crash ==========================================

    def complete(self, thread: Thread, message: MessageRecord) -> tuple[list[Account], list[Account]]:
        """Finish a stored send whose run ended early: every participant's entry. Returns the
        participants, and those nobody has told yet (no delivery record for ``message``)."""
        people = [self.accounts.require(u) for u in thread.participants]
        if message.seq == 1:
            self.threads.put_entries_once(_entry_for(a, thread, message) for a in people)
        else:
            self.threads.advance_entries(thread.thread_id, thread.participants, message)
        told = {
            d.username
            for d in self.threads.deliveries(thread.thread_id)
            if d.seq == message.seq and d.state is not DeliveryState.NOTIFICATION_FAILED
        }
        return people, [a for a in people if a.username not in told]


def _entry_for(account: Account, thread: Thread, message: MessageRecord) -> InboxEntry:
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
