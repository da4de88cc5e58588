"""Attachments on the pages' message forms (reply, new message, continue a full thread).

Files never pass through the app: the browser posts each file straight to the staging bucket
with a presigned POST, and the message form then names the upload (``attachment-<n>`` = the
upload id, ``attachment-<n>-name`` = the file name). Two ways to get there:

- With JavaScript (``/static/attachments.js``, loaded with the page's CSP nonce): the script asks
  ``POST /api/uploads`` for a ticket sized to the file, posts the file to S3 with ``fetch`` and
  adds a checked entry to the message form. Nothing typed is lost, and the size is checked
  before anything is sent.
- Without JavaScript: the same panel is a real HTML form whose action is the bucket itself
  (S3's browser-based POST, with a ticket made for the page by ``UploadService.start_form``).
  S3 stores the file under the draft and answers with a 303 to ``/uploads/received``, a page
  that sends the browser back to the draft, which lists the draft's files as checked boxes.
  We chose this over posting files to the app because API Gateway (10 MB) and Lambda (6 MB)
  cannot carry a 100 MB attachment, and over a "JavaScript required" notice because people on
  locked-down or assistive browsers must be able to attach files too. Its costs, told on the
  page: the visit to S3 reloads the page, so people upload before they write; and a file over
  the limit gets S3's own error page (the browser's Back button returns to the draft).

The page adds the bucket's origin to its own CSP ``form-action`` and ``connect-src`` only.
``/uploads/received`` is reached through a redirect from another site, where a SameSite=Strict
cookie is not sent; it therefore needs no session and only bounces to a local path, from
where the next navigation carries the cookie again.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from chalicelib.accounts.sessions import Principal
from chalicelib.errors import InvalidRequest
from chalicelib.limits import MAX_ATTACHMENTS
from chalicelib.messaging.uploads import PendingUpload, UploadTicket
from chalicelib.web.http.pages import Redisplay
from chalicelib.web.http.responses import allow_source
from chalicelib.wiring.services import Services

RECEIVED_PATH = "/uploads/received"
_FIELD = re.compile(r"^attachment-(\d{1,3})$")


@dataclass(frozen=True)
class ChosenFile:
    upload_id: str
    filename: str
    size: int | None
    checked: bool = True

    @property
    def size_text(self) -> str:
        return size_text(self.size) if self.size is not None else ""


@dataclass(frozen=True)
class AttachmentPanel:
    """What the templates need for one message form's attachments."""

    context: str
    ticket: UploadTicket
    files: tuple[ChosenFile, ...]
    limit_text: str
    max_files: int = MAX_ATTACHMENTS


def size_text(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def chosen_in(form: dict[str, str]) -> list[ChosenFile]:
    """The files a submitted message form names, in their order on the page."""
    numbered = []
    for name, value in form.items():
        found = _FIELD.match(name)
        if found and value:
            numbered.append((int(found.group(1)), value, form.get(f"{name}-name", "")))
    if len(numbered) > MAX_ATTACHMENTS:
        raise InvalidRequest(f"At most {MAX_ATTACHMENTS} attachments per message.", field="attachments")
    return [ChosenFile(upload_id, filename, None) for _, upload_id, filename in sorted(numbered)]


def draft_attachments(chosen: list[ChosenFile]) -> list[dict[str, Any]]:
    """The chosen files as ``parse_draft`` takes them (the content type is guessed from the name)."""
    return [
        {
            "upload_id": f.upload_id,
            "filename": f.filename,
            "content_type": mimetypes.guess_type(f.filename)[0] or "application/octet-stream",
        }
        for f in chosen
    ]


def panel(
    services: Services,
    principal: Principal,
    context: str,
    return_path: str,
    again: Redisplay,
) -> AttachmentPanel:
    """The upload form (a fresh presigned POST) and the draft's files; after a failed send, the boxes
    keep what the person had checked."""
    uploads = services.uploads
    username = principal.account.username
    redirect_url = f"{services.settings.portal_url}{RECEIVED_PATH}?to={quote(return_path, safe='/')}"
    ticket = uploads.start_form(username, context, redirect_url)
    origin = origin_of(ticket.url)
    allow_source("form-action", origin)
    allow_source("connect-src", origin)
    pending: list[PendingUpload] = uploads.pending(username, context)
    if again.error is None:
        files = [ChosenFile(p.upload_id, p.filename, p.size) for p in pending]
    else:
        try:
            chosen = chosen_in(dict(again.form))
        except InvalidRequest:
            chosen = []
        chosen_ids = {c.upload_id for c in chosen}
        sizes = {p.upload_id: p.size for p in pending}
        files = [ChosenFile(c.upload_id, c.filename, sizes.get(c.upload_id)) for c in chosen]
        files += [ChosenFile(p.upload_id, p.filename, p.size, False) for p in pending if p.upload_id not in chosen_ids]
    return AttachmentPanel(context, ticket, tuple(files), size_text(uploads.max_bytes))


def after_send(services: Services, principal: Principal, context: str) -> None:
    """Files left unchecked in the draft are not kept: the person chose not to send them."""
    uploads = services.uploads
    username = principal.account.username
    uploads.discard(username, [p.upload_id for p in uploads.pending(username, context)])
