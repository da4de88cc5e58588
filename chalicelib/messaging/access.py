"""Who may see a thread: its participants, and in credential scope ``thread`` only the one thread
an account was made for. Deny by default: everyone else gets the same 404 as for a thread that
does not exist, and the attempt is audited."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import NotFound
from chalicelib.messaging.model import InboxEntry, Thread
from chalicelib.messaging.thread_store import ThreadRepository


def looks_like_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class ThreadAccess:
    threads: ThreadRepository
    audit: AuditLog

    def member_thread(self, principal: Principal, thread_id: str, request: RequestInfo) -> tuple[Thread, InboxEntry]:
        """The thread and ``principal``'s inbox entry for it, if they take part in it; otherwise 404."""
        return self.thread_of(principal.account, thread_id, request)

    def thread_of(self, account: Account, thread_id: str, request: RequestInfo) -> tuple[Thread, InboxEntry]:
        """``member_thread`` for an account acting without a session (a download grant)."""
        entry = self.threads.entry(account.username, thread_id) if looks_like_id(thread_id) else None
        scoped = account.thread_id
        thread = self.threads.thread(thread_id) if entry is not None and (not scoped or scoped == thread_id) else None
        if entry is None or thread is None:
            self.audit.record(
                AuditEvent.ACCESS_DENIED,
                actor=account.actor,
                request=request,
                outcome=Outcome.DENIED,
                thread_id=thread_id if looks_like_id(thread_id) else None,
                reason="not_a_participant",
            )
            raise NotFound("There is no such thread.")
        return thread, entry
