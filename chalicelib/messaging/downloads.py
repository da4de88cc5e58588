"""Attachment downloads that only a participant can fetch, never whole in memory and never stored
in plaintext.

Small files (up to ``inline_download_max_bytes``, default 4 MB, below Lambda's 6 MB buffered
response) come from the API itself when an API client asks. Every other download, and every
link on the pages, goes through a **download grant**: after the membership check the API
mints a single-use token bound to the user, the thread, the message and the attachment, valid
for ``GRANT_SECONDS`` to start (audited as ``message.download_granted``), and redirects to the
streaming download function (``web/download_server.py``: a Lambda function URL in
RESPONSE_STREAM mode in a deployment, a local server in ``make run``). That function uses the
grant up (``stream``), checks the account and the membership again, audits
``message.downloaded`` and streams the decrypted file in chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from chalicelib.accounts.model import Account, Status
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import AccountRepository
from chalicelib.accounts.tokens import TokenPurpose, TokenStore
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import ConfigurationError, LinkNotValid
from chalicelib.messaging.content import Attachment
from chalicelib.messaging.reader import MessageReader
from chalicelib.settings import Settings

GRANT_SECONDS = 60
_TARGET = re.compile(r"^([0-9a-f]{32})/([0-9a-f]{32})$")


@dataclass(frozen=True)
class Download:
    """Either the file itself (small, for an API client) or where to fetch it."""

    attachment: Attachment | None = None
    redirect_url: str | None = None


def content_disposition(filename: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:100] or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class DownloadGrantNotValid(LinkNotValid):
    code = "download_link_not_valid"
    default_message = (
        "This download link has expired or has already been used. Go back to the message and "
        "choose the attachment again."
    )


@dataclass(frozen=True)
class DownloadService:
    settings: Settings
    accounts: AccountRepository
    tokens: TokenStore
    reader: MessageReader
    audit: AuditLog

    def deliver(
        self,
        principal: Principal,
        thread_id: str,
        message_id: str,
        attachment_id: str,
        request: RequestInfo,
        *,
        redirect_always: bool = False,
    ) -> Download:
        """The file inline, or a redirect through a download grant: for large files, and for every file
        when ``redirect_always`` (browsers' links: API Gateway returns binary bodies only when the first
        type of the Accept header is a binary one, and a browser's navigation asks for text/html first)."""
        account = principal.account
        located = self.reader.locate(account, thread_id, message_id, attachment_id, request)
        if not redirect_always and located.info.size <= self.settings.inline_download_max_bytes:
            self.reader.audit_download(located, account, request)
            return Download(attachment=self.reader.open_attachment(located, account, request))
        if not self.settings.download_url:
            raise ConfigurationError("SEALPOST_DOWNLOAD_URL is not set")
        self.reader.audit_download(located, account, request, AuditEvent.MESSAGE_DOWNLOAD_GRANTED)
        grant = self.tokens.issue(
            TokenPurpose.DOWNLOAD,
            account.username,
            GRANT_SECONDS,
            thread_id=thread_id,
            created_by=account.username,
            target=f"{message_id}/{attachment_id}",
        )
        self.tokens.save(grant)
        return Download(redirect_url=f"{self.settings.download_url}/d/{grant.secret}")

    def stream(self, secret: str, request: RequestInfo) -> Attachment:
        """What a download grant leads to, streamed; the grant is used up. ``DownloadGrantNotValid`` for a
        grant that is unknown, used, expired, or whose account or membership no longer holds."""
        try:
            grant = self.tokens.consume(secret, TokenPurpose.DOWNLOAD)
        except LinkNotValid:
            self._refused(None, "download_grant_not_valid", request)
            raise DownloadGrantNotValid() from None
        target = _TARGET.match(grant.target or "")
        account = self.accounts.get(grant.username)
        if target is None or not grant.thread_id or account is None or not _may_read(account, self.settings):
            self._refused(account, "download_grant_account", request)
            raise DownloadGrantNotValid()
        message_id, attachment_id = target.groups()
        located = self.reader.locate(account, grant.thread_id, message_id, attachment_id, request)
        self.reader.audit_download(located, account, request)
        return self.reader.open_attachment(located, account, request)

    def _refused(self, account: Account | None, reason: str, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.ACCESS_DENIED,
            actor=account.actor if account else Actor.anonymous(),
            request=request,
            outcome=Outcome.DENIED,
            account=account.username if account else None,
            reason=reason,
        )


def _may_read(account: Account, settings: Settings) -> bool:
    """The grant's account still signs in: active and not locked (a session would have ended)."""
    return account.status is Status.ACTIVE and not account.is_locked(settings.lockout_threshold)
