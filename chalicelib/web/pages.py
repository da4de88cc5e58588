"""Server-rendered HTML pages (Jinja2, autoescaped). They work without JavaScript."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.branding import NEUTRAL
from chalicelib.errors import (
    AccountLocked,
    AuthenticationRequired,
    InvalidCredentials,
    LinkNotValid,
    SealpostError,
)
from chalicelib.templating import render_html
from chalicelib.web.errors import status_for
from chalicelib.web.guard import (
    CSRF_FIELD,
    anonymous_form_token,
    authenticate,
    authenticate_change,
    check_anonymous_form,
)
from chalicelib.web.incoming import Incoming
from chalicelib.web.responses import (
    allow_source,
    cleared_session_cookie,
    current_nonce,
    html_response,
    redirect,
    session_cookie,
    with_cookies,
)
from chalicelib.wiring import services as services_module
from chalicelib.wiring.services import Services

HOME = "/home"
ACCOUNTS = "/accounts"

# Notices shown after a redirect: fixed texts chosen by key, never text from the URL.
NOTICES = {
    "signed_out": "You have signed out.",
    "signed_out_everywhere": "You have been signed out on every device.",
    "session_ended": "Your session has ended. Please sign in again.",
    "password_changed": "Your password has been changed. Other sessions have been signed out.",
    "account_created": "The account has been created and the invitation sent.",
    "account_created_no_mail": (
        "The account has been created, but the invitation mail could not be sent. Use "
        "\u201cResend invitation\u201d to try again."
    ),
    "invitation_resent": "A new invitation has been sent.",
    "account_unlocked": "The account has been unlocked.",
    "account_terminated": "The account has been terminated and its sessions ended.",
    "registered": "Welcome. Your account is ready.",
    "password_reset": "Your new password is saved and every other session was signed out. Please sign in.",
    "password_reset_locked": (
        "Your new password is saved. Your account is still locked: please contact the associate with whom "
        "you regularly conduct business to unlock it."
    ),
    "link_sent": "A new link has been sent.",
    "removed_from_view": "The thread was removed from your view. The plan keeps its retained copy for audit.",
    "file_uploaded": (
        "The file has been uploaded and is listed with your message below. It is sent when you send the message; "
        "files you uncheck are removed then."
    ),
}

_SAFE_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9/_\-.~%?=&]*$")


def safe_next(candidate: str | None) -> str:
    """A local path to go to after sign-in; anything else (other sites, ``//host``, schemes) goes home."""
    if candidate and len(candidate) <= 512 and _SAFE_NEXT.match(candidate):
        return candidate
    return HOME


def render(
    incoming: Incoming,
    template: str,
    *,
    services: Services,
    principal: Principal | None = None,
    status: int = 200,
    csrf_token: str | None = None,
    **context: Any,
) -> Response:
    settings = services.settings
    notice_key = incoming.query("notice")
    brand = settings.brand
    if brand.logo_origin:
        allow_source("img-src", brand.logo_origin)
    html = render_html(
        f"pages/{template}",
        nonce=current_nonce(),
        brand=brand,
        plan_name=settings.plan_name,
        local_mode=settings.local_mode,
        principal=principal,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token or (principal.csrf_token if principal else ""),
        notice=NOTICES.get(notice_key or ""),
        path=incoming.path,
        **context,
    )
    return html_response(html, status)


def error_page(incoming: Incoming, error: SealpostError, status: int) -> Response:
    """The HTML answer for an error that reached the edge (no session lookup: it may be what failed)."""
    try:
        brand = services_module.current().settings.brand
    except SealpostError:
        brand = NEUTRAL
    if brand.logo_origin:
        allow_source("img-src", brand.logo_origin)
    html = render_html(
        "pages/error.html",
        nonce=current_nonce(),
        brand=brand,
        plan_name=brand.plan_name,
        local_mode=False,
        principal=None,
        csrf_field=CSRF_FIELD,
        csrf_token="",
        notice=None,
        path=incoming.path,
        status=status,
        message=error.public_message,
        request_id=incoming.request_id,
    )
    return html_response(html, status)


def sign_in_redirect(incoming: Incoming, notice: str | None = None) -> Response:
    target = "/signin?next=" + quote(safe_next(incoming.path), safe="/")
    if notice:
        target += "&notice=" + notice
    return redirect(target)


# --- sign in and out ----------------------------------------------------------------


def index(incoming: Incoming) -> Response:
    services = services_module.current()
    try:
        authenticate(incoming, services)
    except AuthenticationRequired:
        return redirect("/signin")
    return redirect(HOME)


def sign_in_form(incoming: Incoming) -> Response:
    services = services_module.current()
    try:
        authenticate(incoming, services)
        return redirect(safe_next(incoming.query("next")))
    except AuthenticationRequired:
        pass
    return _sign_in_page(incoming, services)


def _sign_in_page(
    incoming: Incoming,
    services: Services,
    *,
    status: int = 200,
    username: str = "",
    error: SealpostError | None = None,
) -> Response:
    token, new_cookie = anonymous_form_token(incoming)
    response = render(
        incoming,
        "signin.html",
        services=services,
        status=status,
        csrf_token=token,
        next=safe_next(incoming.query("next")),
        username=username,
        error=error,
        warning=getattr(error, "warning", None),
    )
    return with_cookies(response, *([new_cookie] if new_cookie else []))


def sign_in_submit(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        signed_in = services.signin.sign_in(form.get("username"), form.get("password"), incoming.info())
    except (InvalidCredentials, AccountLocked) as error:
        return _sign_in_page(
            incoming, services, status=status_for(error), username=form.get("username", "")[:128], error=error
        )
    except SealpostError as error:
        if error.field is None:
            raise
        return _sign_in_page(
            incoming, services, status=status_for(error), username=form.get("username", "")[:128], error=error
        )
    target = safe_next(form.get("next"))
    return with_cookies(redirect(target), session_cookie(signed_in.session_secret))


def sign_out(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    services.signin.sign_out(principal, incoming.info())
    return with_cookies(redirect("/signin?notice=signed_out"), cleared_session_cookie())


# --- home and account settings ------------------------------------------------------


def home(incoming: Incoming) -> Response:
    from chalicelib.web.thread_pages import inbox_page

    services = services_module.current()
    principal = authenticate(incoming, services)
    return inbox_page(incoming, services, principal)


def accounts_page(incoming: Incoming) -> Response:
    services = services_module.current()
    return _accounts_page(incoming, services, authenticate(incoming, services))


def _accounts_page(
    incoming: Incoming,
    services: Services,
    principal: Principal,
    *,
    status: int = 200,
    error: SealpostError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    partners = services.admin.list_partners(principal, incoming.info())
    return render(
        incoming,
        "associate_home.html",
        services=services,
        principal=principal,
        status=status,
        partners=[p.public_view(services.settings.lockout_threshold) for p in partners],
        error=error,
        form=form or {},
    )


def account_settings(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate(incoming, services)
    return render(incoming, "account.html", services=services, principal=principal)


def change_password(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    try:
        signed_in = services.credentials.change_password(
            principal,
            form.get("current_password"),
            form.get("new_password"),
            form.get("new_password_confirmation"),
            incoming.info(),
        )
    except AccountLocked:
        return with_cookies(redirect("/signin?notice=session_ended"), cleared_session_cookie())
    except SealpostError as error:
        if error.field is None:
            raise
        if error.field in ("password", "password_confirmation"):
            error.field = "new_" + error.field  # the new password's fields on this page
        return render(
            incoming,
            "account.html",
            services=services,
            principal=principal,
            status=status_for(error),
            error=error,
            warning=getattr(error, "warning", None),
        )
    return with_cookies(redirect("/account?notice=password_changed"), session_cookie(signed_in.session_secret))


def sign_out_everywhere(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services, incoming.form())
    services.signin.sign_out_everywhere(principal, incoming.info())
    return with_cookies(redirect("/signin?notice=signed_out_everywhere"), cleared_session_cookie())


# --- associates manage partner accounts ---------------------------------------------


def create_account(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    principal = authenticate_change(incoming, services, form)
    try:
        created = services.admin.create_partner(principal, form.get("email"), form.get("display_name"), incoming.info())
    except SealpostError as error:
        if error.field is None and status_for(error) != 409:
            raise
        return _accounts_page(incoming, services, principal, status=status_for(error), error=error, form=form)
    notice = "account_created" if created.invitation_sent else "account_created_no_mail"
    return redirect(f"{ACCOUNTS}?notice={notice}")


def account_action(incoming: Incoming, username: str, action: str) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services, incoming.form())
    handlers = {
        "unlock": (services.admin.unlock, "account_unlocked"),
        "terminate": (services.admin.terminate, "account_terminated"),
        "invitation": (services.admin.resend_invitation, "invitation_resent"),
    }
    handler, notice = handlers[action]
    handler(principal, username, incoming.info())
    return redirect(f"{ACCOUNTS}?notice={notice}")


# --- registration from an invitation ------------------------------------------------


def register_form(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    try:
        account = services.credentials.invited_account(token)
    except LinkNotValid as error:
        return render(incoming, "link_invalid.html", services=services, status=410, error=error)
    return _register_page(incoming, services, account, token)


def _register_page(
    incoming: Incoming,
    services: Services,
    account: Account,
    token: str,
    *,
    status: int = 200,
    error: SealpostError | None = None,
) -> Response:
    form_token, new_cookie = anonymous_form_token(incoming)
    response = render(
        incoming,
        "register.html",
        services=services,
        status=status,
        csrf_token=form_token,
        account=account,
        token=token,
        action=f"/register/{token}",
        error=error,
    )
    return with_cookies(response, *([new_cookie] if new_cookie else []))


def register_submit(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        signed_in = services.credentials.register(
            token, form.get("password"), form.get("password_confirmation"), incoming.info()
        )
    except LinkNotValid as error:
        return render(incoming, "link_invalid.html", services=services, status=410, error=error)
    except SealpostError as error:
        if error.field is None:
            raise
        account = services.credentials.invited_account(token)
        return _register_page(incoming, services, account, token, status=status_for(error), error=error)
    return with_cookies(redirect(f"{HOME}?notice=registered"), session_cookie(signed_in.session_secret))
