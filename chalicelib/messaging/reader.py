"""Reading secure messages: the inbox, a thread with its messages, an attachment, removing a
thread from one's view. Every read checks membership (``ThreadAccess``) and is audited; a
ciphertext that fails its integrity check is audited as tampering and nothing of it is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from chalicelib import clock
from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import AccountRepository
from chalicelib.audit.records import AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import NotFound
from chalicelib.messaging.access import ThreadAccess
from chalicelib.messaging.content import Attachment, AttachmentInfo, MessageContent
from chalicelib.messaging.encryption import IntegrityError
from chalicelib.messaging.model import AttachmentRecord, Delivery, InboxEntry, MessageRecord, Thread
from chalicelib.messaging.thread_store import ThreadRepository
from chalicelib.messaging.vault import MessageVault


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
class LocatedAttachment:
    """An attachment a participant may fetch: its message, its stored ciphertext and what it is."""

    message: MessageRecord
    record: AttachmentRecord
    info: AttachmentInfo


@dataclass(frozen=True)
class MessageReader:
    accounts: AccountRepository
    threads: ThreadRepository
    vault: MessageVault
    access: ThreadAccess
    audit: AuditLog

    def inbox(self, principal: Principal) -> list[InboxItem]:
        entries = [e for e in self.threads.inbox(principal.account.username) if not e.hidden]
        if principal.account.thread_id:  # credential scope "thread": this account sees its own thread only
            entries = [e for e in entries if e.thread_id == principal.account.thread_id]
        entries.sort(key=lambda e: e.last_activity_at, reverse=True)
        items = []
        for entry in entries:
            thread = self.threads.thread(entry.thread_id)
            if thread is not None:
                items.append(InboxItem(entry=entry, subject=self.vault.subject(thread)))
        return items

    def thread_view(self, principal: Principal, thread_id: str, request: RequestInfo) -> ThreadView:
        thread, entry = self.access.member_thread(principal, thread_id, request)
        reader = principal.account.username
        views = []
        for record in self.threads.messages(thread_id):
            content = self._content(principal.account, record, request)
            self.audit.record(
                AuditEvent.MESSAGE_OPENED,
                actor=principal.actor,
                request=request,
                thread_id=thread_id,
                message_id=record.message_id,
            )
            if reader != record.sender and reader not in record.opened_by:
                when = clock.iso(clock.now())
                self.threads.mark_opened(thread_id, record.seq, reader, when)
                record = replace(record, opened_by={**record.opened_by, reader: when})
            views.append(MessageView(record=record, content=content))
        self.threads.mark_read(reader, thread_id, thread.interaction_count)
        participants = tuple(a for a in (self.accounts.get(u) for u in thread.participants) if a is not None)
        deliveries = tuple(self.threads.deliveries(thread_id)) if principal.account.is_associate else ()
        return ThreadView(thread, entry, self.vault.subject(thread), tuple(views), participants, deliveries)

    def audit_download(
        self,
        located: LocatedAttachment,
        account: Account,
        request: RequestInfo,
        event: AuditEvent = AuditEvent.MESSAGE_DOWNLOADED,
    ) -> None:
        """Record the download (or the grant to stream it) before anything is delivered: fail closed."""
        self.audit.record(
            event,
            actor=account.actor,
            request=request,
            thread_id=located.message.thread_id,
            message_id=located.message.message_id,
            detail={"attachment": located.record.attachment_id, "size": located.info.size},
        )

    def locate(
        self, account: Account, thread_id: str, message_id: str, attachment_id: str, request: RequestInfo
    ) -> LocatedAttachment:
        """The attachment, if ``account`` takes part in its thread (denials and tampering are audited)."""
        self.access.thread_of(account, thread_id, request)
        record, stored = self._locate(thread_id, message_id, attachment_id)
        info = self._content(account, record, request).attachment(attachment_id)
        if info is None:
            raise self._tampered(account, record, request)
        return LocatedAttachment(record, stored, info)

    def open_attachment(self, located: LocatedAttachment, account: Account, request: RequestInfo) -> Attachment:
        """The attachment's plaintext as a stream of chunks; a failed integrity check is audited as
        tampering (and raised, perhaps after some chunks: the caller aborts what it sent)."""
        chunks = self.vault.attachment(located.message, located.record)
        return Attachment(
            filename=located.info.filename,
            content_type=located.info.content_type,
            size=located.info.size,
            chunks=self._audited(chunks, account, located.message, request),
        )

    def _audited(
        self, chunks: Iterator[bytes], account: Account, record: MessageRecord, request: RequestInfo
    ) -> Iterator[bytes]:
        try:
            yield from chunks
        except IntegrityError:
            raise self._tampered(account, record, request) from None

    def remove_from_view(self, principal: Principal, thread_id: str, request: RequestInfo) -> None:
        """R6: the thread leaves this user's inbox; the retained copy stays for the retention period."""
        self.access.member_thread(principal, thread_id, request)
        self.audit.record(
            AuditEvent.THREAD_REMOVED_FROM_VIEW, actor=principal.actor, request=request, thread_id=thread_id
        )
        self.threads.hide(principal.account.username, thread_id)

    def _locate(self, thread_id: str, message_id: str, attachment_id: str) -> tuple[MessageRecord, AttachmentRecord]:
        record = next((m for m in self.threads.messages(thread_id) if m.message_id == message_id), None)
        found = record.attachment(attachment_id) if record else None
        if record is None or found is None:
            raise NotFound("There is no such attachment.")
        return record, found

    def _content(self, account: Account, record: MessageRecord, request: RequestInfo) -> MessageContent:
        """The decrypted message for a reader; a failed integrity check is audited as tampering."""
        try:
            return self.vault.content(record)
        except IntegrityError:
            raise self._tampered(account, record, request) from None

    def _tampered(self, account: Account, record: MessageRecord, request: RequestInfo) -> IntegrityError:
        self.audit.record(
            AuditEvent.TAMPER_DETECTED,
            actor=account.actor,
            request=request,
            outcome=Outcome.FAILURE,
            thread_id=record.thread_id,
            message_id=record.message_id,
            reason="integrity_check_failed",
        )
        return IntegrityError()
