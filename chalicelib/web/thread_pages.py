"""Pages for threads: the home page with the inbox, a thread, writing, replying, continuing, removing
from view, attachments."""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Response

from chalicelib.accounts.sessions import Principal
from chalicelib.errors import SealpostError
from chalicelib.messaging.delivery_status import RecipientStatus, latest_statuses
from chalicelib.messaging.drafts import Draft, display_names, parse_draft, parse_new_thread
from chalicelib.messaging.reader import InboxItem, ThreadView
from chalicelib.web import attachment_forms
from chalicelib.web.http.guard import authenticate, changing_form
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import HOME, Redisplay, render, safe_next
from chalicelib.web.http.responses import redirect
from chalicelib.web.http.routing import Routes
from chalicelib.web.threads_api import attachment_response
from chalicelib.wiring.services import Services

routes = Routes(__name__)

NEW_DRAFT = "new"


def _inbox_deliveries(
    services: Services, principal: Principal, items: list[InboxItem]
) -> dict[str, list[RecipientStatus]]:
    """For associates: where each other participant stands in each thread of the list."""
    found: dict[str, list[RecipientStatus]] = {}
    for item in items:
        thread = services.threads.thread(item.entry.thread_id)
        if thread is None:
            continue
        others = [u for u in thread.participants if u != principal.account.username]
        found[thread.thread_id] = latest_statuses(
            others, services.threads.messages(thread.thread_id), services.threads.deliveries(thread.thread_id)
        )
    return found


@routes.route(HOME, "GET")
def home(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    items = services.reader.inbox(principal)
    if principal.account.is_associate:
        deliveries = _inbox_deliveries(services, principal, items)
        return render(
            incoming, "associate_home.html", services=services, principal=principal, items=items, deliveries=deliveries
        )
    return render(incoming, "partner_home.html", services=services, principal=principal, items=items)


@routes.route("/threads/new", "GET")
def new_form(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    return _new_page(incoming, services, principal, Redisplay())


def _new_page(incoming: Incoming, services: Services, principal: Principal, again: Redisplay) -> Response:
    associates = (
        [] if principal.account.is_associate else sorted(services.domain_filter.business_associates(principal.account))
    )
    return render(
        incoming,
        "thread_new.html",
        services=services,
        principal=principal,
        status=again.status,
        error=again.error,
        form=again.form,
        associates=associates,
        internal_domains=services.settings.internal_domains,
        attachments=attachment_forms.panel(services, principal, NEW_DRAFT, "/threads/new", again),
    )


@routes.route("/threads", "POST")
def send_new(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
    try:
        chosen = attachment_forms.draft_attachments(attachment_forms.chosen_in(form))
        draft, recipients = parse_new_thread(
            form.get("subject"), form.get("text"), None, chosen, form.get("recipients")
        )
        result = services.sender.start(
            principal, [r.address for r in recipients], draft, incoming.info(), display_names(recipients)
        )
    except SealpostError as error:
        return _new_page(incoming, services, principal, Redisplay.after(error, form))
    attachment_forms.after_send(services, principal, NEW_DRAFT)
    return redirect(f"/threads/{result.thread.thread_id}")


def _thread_page(
    incoming: Incoming, services: Services, principal: Principal, view: ThreadView, again: Redisplay
) -> Response:
    thread = view.thread
    can_write = not thread.is_full or not thread.successor_id
    others = [p.username for p in view.participants if p.username != principal.account.username]
    messages = [m.record for m in view.messages]
    return render(
        incoming,
        "thread.html",
        services=services,
        principal=principal,
        view=view,
        status=again.status,
        error=again.error,
        form=again.form,
        recipients=(latest_statuses(others, messages, view.deliveries) if principal.account.is_associate else []),
        names={p.username: p.display_name or p.username for p in view.participants},
        attachments=(
            attachment_forms.panel(services, principal, thread.thread_id, f"/threads/{thread.thread_id}", again)
            if can_write
            else None
        ),
    )


@routes.route("/threads/{thread_id}", "GET")
def show(incoming: Incoming, services: Services, thread_id: str, again: Redisplay | None = None) -> Response:
    principal = authenticate(incoming, services)
    view = services.reader.thread_view(principal, thread_id, incoming.info())
    return _thread_page(incoming, services, principal, view, again or Redisplay())


@routes.route("/threads/{thread_id}/reply", "POST")
def reply(incoming: Incoming, services: Services, thread_id: str) -> Response:
    def send(services: Services, principal: Principal, draft: Draft) -> str:
        services.sender.reply(principal, thread_id, draft, incoming.info())
        return f"/threads/{thread_id}#reply-heading"

    return _send_from_thread_page(incoming, services, thread_id, send, with_subject=False)


@routes.route("/threads/{thread_id}/continue", "POST")
def continue_thread(incoming: Incoming, services: Services, thread_id: str) -> Response:
    def send(services: Services, principal: Principal, draft: Draft) -> str:
        result = services.sender.continue_thread(principal, thread_id, draft, incoming.info())
        return f"/threads/{result.thread.thread_id}"

    return _send_from_thread_page(incoming, services, thread_id, send, with_subject=True)


def _send_from_thread_page(
    incoming: Incoming,
    services: Services,
    thread_id: str,
    send: Callable[[Services, Principal, Draft], str],
    *,
    with_subject: bool,
) -> Response:
    """A form on a thread's page that sends a message; errors show the page again with the draft kept."""
    principal, form = changing_form(incoming, services)
    try:
        chosen = attachment_forms.draft_attachments(attachment_forms.chosen_in(form))
        subject = form.get("subject") if with_subject else None
        draft = parse_draft(subject, form.get("text"), None, chosen, subject_required=with_subject)
        target = send(services, principal, draft)
    except SealpostError as error:
        return show(incoming, services, thread_id, Redisplay.after(error, form, conflicts=True))
    attachment_forms.after_send(services, principal, thread_id)
    return redirect(target)


@routes.route("/threads/{thread_id}/remove", "POST")
def remove(incoming: Incoming, services: Services, thread_id: str) -> Response:
    principal, _form = changing_form(incoming, services)
    services.reader.remove_from_view(principal, thread_id, incoming.info())
    return redirect(f"{HOME}?notice=removed_from_view")


@routes.route("/threads/{thread_id}/messages/{message_id}/attachments/{attachment_id}", "GET")
def download(incoming: Incoming, services: Services, thread_id: str, message_id: str, attachment_id: str) -> Response:
    """A page's attachment link: always through a download grant to the streaming download function,
    whatever the size. Linked without ``download``: browsers send no Accept header for those, and
    Chalice answers a binary body only to a request that accepts one."""
    return attachment_response(incoming, services, thread_id, message_id, attachment_id, redirect_always=True)


@routes.route(attachment_forms.RECEIVED_PATH, "GET")
def upload_received(incoming: Incoming, services: Services) -> Response:
    """Where S3 sends the browser after a form upload: back to the draft (see attachment_forms)."""
    target = safe_next(incoming.query("to"))
    target += ("&" if "?" in target else "?") + "notice=file_uploaded"
    return render(incoming, "upload_received.html", services=services, target=target)
