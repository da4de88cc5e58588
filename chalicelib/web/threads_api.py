"""The JSON API for threads, messages, uploads and attachment downloads (``/api/threads``, ``/api/uploads``)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.accounts.sessions import Principal
from chalicelib.messaging.downloads import content_disposition
from chalicelib.messaging.drafts import Draft, display_names, parse_draft, parse_new_thread
from chalicelib.messaging.model import Thread
from chalicelib.messaging.reader import InboxItem, MessageView, ThreadView
from chalicelib.messaging.sender import SendResult
from chalicelib.web.http.guard import authenticate, authenticate_change, changing_json
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.responses import json_response, redirect
from chalicelib.web.http.routing import Routes
from chalicelib.wiring.services import Services

routes = Routes(__name__)

# A message's JSON may carry up to 200,000 characters of text and 500,000 of HTML.
MESSAGE_JSON_LIMIT = 4 * 1024 * 1024


def thread_summary(thread: Thread) -> dict[str, Any]:
    return {
        "thread_id": thread.thread_id,
        "reference_code": thread.reference_code,
        "interactions": thread.interaction_count,
        "max_interactions": thread.max_interactions,
        "interactions_label": f"{thread.interaction_count} of {thread.max_interactions}",
        "full": thread.is_full,
        "last_activity_at": thread.last_activity_at,
        "predecessor_id": thread.predecessor_id,
        "successor_id": thread.successor_id,
    }


def inbox_item(item: InboxItem) -> dict[str, Any]:
    entry = item.entry
    return {
        "thread_id": entry.thread_id,
        "reference_code": entry.reference_code,
        "subject": item.subject,
        "interactions": entry.interaction_count,
        "max_interactions": entry.max_interactions,
        "interactions_label": f"{entry.interaction_count} of {entry.max_interactions}",
        "last_activity_at": entry.last_activity_at,
        "unread": entry.unread,
    }


def attachment_url(thread_id: str, message_id: str, attachment_id: str) -> str:
    return f"/api/threads/{thread_id}/messages/{message_id}/attachments/{attachment_id}"


def message_json(view: MessageView, viewer: Principal) -> dict[str, Any]:
    record, content = view.record, view.content
    body: dict[str, Any] = {
        "message_id": record.message_id,
        "seq": record.seq,
        "sender": record.sender,
        "sender_role": record.sender_role,
        "created_at": record.created_at,
        "subject": content.subject,
        "text": content.text,
        "html": content.safe_html,
        "attachments": [
            {
                "attachment_id": a.attachment_id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": attachment_url(record.thread_id, record.message_id, a.attachment_id),
            }
            for a in content.attachments
        ],
    }
    if viewer.account.is_associate:
        body["opened_by"] = dict(record.opened_by)
    return body


def thread_json(view: ThreadView, viewer: Principal) -> dict[str, Any]:
    return {
        **thread_summary(view.thread),
        "subject": view.subject,
        "participants": [
            {"username": a.username, "display_name": a.display_name, "role": str(a.role)} for a in view.participants
        ],
        "messages": [message_json(m, viewer) for m in view.messages],
        **(
            {
                "deliveries": [
                    {"seq": d.seq, "username": d.username, "state": str(d.state), "at": d.at, "reason": d.reason}
                    for d in view.deliveries
                ]
            }
            if viewer.account.is_associate
            else {}
        ),
    }


def sent_json(result: SendResult) -> dict[str, Any]:
    return {
        "thread": thread_summary(result.thread),
        "message_id": result.message.message_id,
        "invited": list(result.invited),
        "notified": result.notified,
    }


def _draft_and_principal(
    incoming: Incoming, services: Services, *, subject_required: bool
) -> tuple[Principal, dict[str, Any], Draft]:
    principal, body = changing_json(incoming, services, MESSAGE_JSON_LIMIT)
    draft = parse_draft(
        body.get("subject"),
        body.get("text"),
        body.get("html"),
        body.get("attachments"),
        subject_required=subject_required,
    )
    return principal, body, draft


@routes.route("/api/threads", "GET")
def inbox(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    return json_response({"threads": [inbox_item(i) for i in services.reader.inbox(principal)]})


@routes.route("/api/threads", "POST")
def start(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services, MESSAGE_JSON_LIMIT)
    draft, recipients = parse_new_thread(
        body.get("subject"), body.get("text"), body.get("html"), body.get("attachments"), body.get("recipients")
    )
    result = services.sender.start(
        principal, [r.address for r in recipients], draft, incoming.info(), display_names(recipients)
    )
    return json_response(sent_json(result), status=201)


@routes.route("/api/threads/{thread_id}", "GET")
def show(incoming: Incoming, services: Services, thread_id: str) -> Response:
    principal = authenticate(incoming, services)
    view = services.reader.thread_view(principal, thread_id, incoming.info())
    return json_response(thread_json(view, principal))


@routes.route("/api/threads/{thread_id}/messages", "POST")
def reply(incoming: Incoming, services: Services, thread_id: str) -> Response:
    principal, _body, draft = _draft_and_principal(incoming, services, subject_required=False)
    result = services.sender.reply(principal, thread_id, draft, incoming.info())
    return json_response(sent_json(result), status=201)


@routes.route("/api/threads/{thread_id}/continuation", "POST")
def continue_thread(incoming: Incoming, services: Services, thread_id: str) -> Response:
    principal, _body, draft = _draft_and_principal(incoming, services, subject_required=True)
    result = services.sender.continue_thread(principal, thread_id, draft, incoming.info())
    return json_response(sent_json(result), status=201)


@routes.route("/api/threads/{thread_id}/remove-from-view", "POST")
def remove_from_view(incoming: Incoming, services: Services, thread_id: str) -> Response:
    principal = authenticate_change(incoming, services)
    services.reader.remove_from_view(principal, thread_id, incoming.info())
    return json_response({"removed_from_view": True, "retained": True})


@routes.route("/api/uploads", "POST")
def start_upload(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services)
    ticket = services.uploads.start(principal.account.username, body.get("size"))
    return json_response(
        {
            "upload_id": ticket.upload_id,
            "url": ticket.url,
            "fields": ticket.fields,
            "max_bytes": ticket.max_bytes,
            "expires_in": ticket.expires_in,
        },
        status=201,
    )


@routes.route("/api/threads/{thread_id}/messages/{message_id}/attachments/{attachment_id}", "GET")
def download(incoming: Incoming, services: Services, thread_id: str, message_id: str, attachment_id: str) -> Response:
    return attachment_response(incoming, services, thread_id, message_id, attachment_id)


def attachment_response(
    incoming: Incoming,
    services: Services,
    thread_id: str,
    message_id: str,
    attachment_id: str,
    *,
    redirect_always: bool = False,
) -> Response:
    """The file itself, or a redirect to where a deployment serves it (see ``DownloadService.deliver``)."""
    principal = authenticate(incoming, services)
    delivery = services.downloads.deliver(
        principal, thread_id, message_id, attachment_id, incoming.info(), redirect_always=redirect_always
    )
    if delivery.redirect_url:
        return redirect(delivery.redirect_url)
    assert delivery.attachment is not None
    return Response(
        body=b"".join(delivery.attachment.chunks),  # small (inline_download_max_bytes): buffered whole
        status_code=200,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": content_disposition(delivery.attachment.filename),
        },
    )
