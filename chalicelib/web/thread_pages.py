"""Pages for threads: the inbox, a thread, writing, replying, continuing, removing from view."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import services as services_module
from chalicelib.drafts import parse_draft, parse_recipients
from chalicelib.errors import SealpostError
from chalicelib.services import Services
from chalicelib.sessions import Principal
from chalicelib.web.errors import status_for
from chalicelib.web.guard import authenticate, authenticate_change
from chalicelib.web.incoming import Incoming
from chalicelib.web.pages import render
from chalicelib.web.responses import redirect
from chalicelib.web.threads_api import download as api_download


def inbox_page(incoming: Incoming, services: Services, principal: Principal) -> Response:
    template = "associate_home.html" if principal.account.is_associate else "partner_home.html"
    return render(incoming, template, services=services, principal=principal, items=services.messaging.inbox(principal))


def new_form(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate(incoming, services)
    return _new_page(incoming, services, principal)


def _new_page(
    incoming: Incoming,
    services: Services,
    principal: Principal,
    *,
    status: int = 200,
    error: SealpostError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    associates = (
        [] if principal.account.is_associate else sorted(services.messaging.business_associates(principal.account))
    )
    return render(
        incoming,
        "thread_new.html",
        services=services,
        principal=principal,
        status=status,
        error=error,
        form=form or {},
        associates=associates,
        internal_domains=services.settings.internal_domains,
    )


def send_new(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    try:
        draft = parse_draft(form.get("subject"), form.get("text"))
        recipients = parse_recipients(form.get("recipients"))
        if principal.account.is_associate:
            result = services.messaging.start_thread(principal, recipients, draft, incoming.info())
        else:
            result = services.messaging.write_to_associates(principal, recipients, draft, incoming.info())
    except SealpostError as error:
        if error.field is None:
            raise
        return _new_page(incoming, services, principal, status=status_for(error), error=error, form=form)
    return redirect(f"/threads/{result.thread.thread_id}")


def show(incoming: Incoming, thread_id: str, *, status: int = 200, error: SealpostError | None = None) -> Response:
    services = services_module.current()
    principal = authenticate(incoming, services)
    view = services.messaging.thread_view(principal, thread_id, incoming.info())
    return render(
        incoming, "thread.html", services=services, principal=principal, view=view, status=status, error=error
    )


def reply(incoming: Incoming, thread_id: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    try:
        draft = parse_draft(None, form.get("text"), subject_required=False)
        services.messaging.reply(principal, thread_id, draft, incoming.info())
    except SealpostError as error:
        if error.field is None and status_for(error) != 409:
            raise
        return show(incoming, thread_id, status=status_for(error), error=error)
    return redirect(f"/threads/{thread_id}#reply-heading")


def continue_thread(incoming: Incoming, thread_id: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    try:
        draft = parse_draft(form.get("subject"), form.get("text"))
        result = services.messaging.continue_thread(principal, thread_id, draft, incoming.info())
    except SealpostError as error:
        if error.field is None and status_for(error) != 409:
            raise
        return show(incoming, thread_id, status=status_for(error), error=error)
    return redirect(f"/threads/{result.thread.thread_id}")


def remove(incoming: Incoming, thread_id: str) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services, incoming.form())
    services.messaging.remove_from_view(principal, thread_id, incoming.info())
    return redirect("/home?notice=removed_from_view")


def download(incoming: Incoming, thread_id: str, message_id: str, attachment_id: str) -> Response:
    return api_download(incoming, thread_id, message_id, attachment_id)
