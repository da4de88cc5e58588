"""Signing in and out, one's own account (password, sessions), and registering from an invitation:
the JSON API under ``/api/session``, ``/api/sessions`` (one's own sessions, ASVS 7.5.2),
``/api/password``, ``/api/register`` and the pages beside it."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.errors import AccountLocked, AuthenticationRequired, InvalidCredentials, LinkNotValid, SealpostError
from chalicelib.web import federation
from chalicelib.web.http.guard import (
    anonymous_form,
    anonymous_json,
    authenticate,
    authenticate_change,
    changing_form,
    changing_json,
)
from chalicelib.web.http.incoming import Incoming, password_field, text_field, token_field
from chalicelib.web.http.pages import HOME, anonymous_page, render, safe_next, shown_on_form
from chalicelib.web.http.responses import (
    cleared_session_cookie,
    json_response,
    me,
    redirect,
    session_cookie,
    signed_in_json,
    with_cookies,
)
from chalicelib.web.http.routing import Routes
from chalicelib.web.http.status import status_for
from chalicelib.web.second_factor import after_first_step, first_step_json
from chalicelib.web.session_list import session_view
from chalicelib.wiring.services import Services

routes = Routes(__name__)


# --- JSON API -------------------------------------------------------------------------------


@routes.route("/api/session", "POST")
def api_sign_in(incoming: Incoming, services: Services) -> Response:
    body = anonymous_json(incoming, services)
    # ``identifier`` (a user name or, in the recipient scope, a mail address) or the older ``username``.
    name_field = "identifier" if "identifier" in body else "username"
    username, password = text_field(body, name_field, max_length=256), password_field(body)
    with services.source_budget.attempt(incoming.info()):
        signed_in = services.signin.sign_in(username, password, incoming.info())
    return first_step_json(signed_in)


@routes.route("/api/session", "GET")
def api_current_session(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    return json_response(me(principal.account, principal.csrf_token))


@routes.route("/api/session", "DELETE")
def api_sign_out(incoming: Incoming, services: Services) -> Response:
    principal = authenticate_change(incoming, services)
    services.signin.sign_out(principal, incoming.info())
    return with_cookies(json_response({"signed_out": True}), cleared_session_cookie())


@routes.route("/api/session/revoke-all", "POST")
def api_sign_out_everywhere(incoming: Incoming, services: Services) -> Response:
    principal = authenticate_change(incoming, services)
    services.signin.sign_out_everywhere(principal, incoming.info())
    return with_cookies(json_response({"signed_out": True, "everywhere": True}), cleared_session_cookie())


@routes.route("/api/sessions", "GET")
def api_own_sessions(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    return json_response({"sessions": _own_sessions(services, principal)})


@routes.route("/api/sessions/{sid}/end", "POST")
def api_end_own_session(incoming: Incoming, services: Services, sid: str) -> Response:
    principal = authenticate_change(incoming, services)
    ended = services.signin.end_own_session(principal, sid, incoming.info())
    this_one = ended.sid == principal.session.sid
    reply = json_response({"ended": ended.sid, "this_session": this_one})
    return with_cookies(reply, cleared_session_cookie()) if this_one else reply


@routes.route("/api/password", "POST")
def api_change_password(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services)
    signed_in = services.credentials.change_password(
        principal,
        password_field(body, "current_password"),
        password_field(body, "new_password"),
        None,
        incoming.info(),
    )
    return signed_in_json(signed_in)


@routes.route("/api/register", "POST")
def api_register(incoming: Incoming, services: Services) -> Response:
    body = anonymous_json(incoming, services)
    token, password = token_field(body), password_field(body)
    with services.source_budget.attempt(incoming.info()):
        signed_in = services.credentials.register(token, password, None, incoming.info())
    return first_step_json(signed_in, status=201)


# --- pages: sign in and out -----------------------------------------------------------------


@routes.route("/", "GET")
def index(incoming: Incoming, services: Services) -> Response:
    try:
        authenticate(incoming, services)
    except AuthenticationRequired:
        return redirect("/signin")
    return redirect(HOME)


@routes.route("/signin", "GET")
def sign_in_form(incoming: Incoming, services: Services) -> Response:
    try:
        authenticate(incoming, services)
        return redirect(safe_next(incoming.query("next")))
    except AuthenticationRequired:
        pass
    return _sign_in_page(incoming, services)


def _sign_in_page(
    incoming: Incoming, services: Services, *, status: int = 200, username: str = "", error: SealpostError | None = None
) -> Response:
    return anonymous_page(
        incoming,
        services,
        "signin.html",
        status=status,
        next=safe_next(incoming.query("next")),
        username=username,
        by_address=services.settings.credential_scope == "recipient",
        provider_links=federation.sign_in_links(services),
        error=error,
        warning=getattr(error, "warning", None),
    )


@routes.route("/signin", "POST")
def sign_in_submit(incoming: Incoming, services: Services) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info()):
            signed_in = services.signin.sign_in(form.get("username"), form.get("password"), incoming.info())
    except (InvalidCredentials, AccountLocked) as error:
        return _sign_in_page(
            incoming, services, status=status_for(error), username=form.get("username", "")[:254], error=error
        )
    except SealpostError as error:
        status = shown_on_form(error)
        return _sign_in_page(incoming, services, status=status, username=form.get("username", "")[:254], error=error)
    return after_first_step(signed_in, form.get("next"))


@routes.route("/signout", "POST")
def sign_out(incoming: Incoming, services: Services) -> Response:
    principal, _form = changing_form(incoming, services)
    services.signin.sign_out(principal, incoming.info())
    return with_cookies(redirect(federation.after_sign_out(principal)), cleared_session_cookie())


# --- pages: one's own account ---------------------------------------------------------------


def _own_sessions(services: Services, principal: Principal) -> list[dict[str, Any]]:
    current = principal.session.sid
    return [session_view(s, current_sid=current) for s in services.signin.own_sessions(principal)]


def _account_page(incoming: Incoming, services: Services, principal: Principal, **more: Any) -> Response:
    sessions = _own_sessions(services, principal)
    return render(incoming, "account.html", services=services, principal=principal, sessions=sessions, **more)


@routes.route("/account", "GET")
def account_settings(incoming: Incoming, services: Services) -> Response:
    return _account_page(incoming, services, authenticate(incoming, services))


@routes.route("/account/password", "POST")
def change_password(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
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
        status = shown_on_form(error)
        if error.field in ("password", "password_confirmation"):
            error.field = "new_" + error.field  # the new password's fields on this page
        return _account_page(
            incoming,
            services,
            principal,
            status=status,
            error=error,
            warning=getattr(error, "warning", None),
        )
    return with_cookies(redirect("/account?notice=password_changed"), session_cookie(signed_in.session_secret))


@routes.route("/account/sessions/{sid}/end", "POST")
def end_own_session(incoming: Incoming, services: Services, sid: str) -> Response:
    principal, _form = changing_form(incoming, services)
    ended = services.signin.end_own_session(principal, sid, incoming.info())
    if ended.sid == principal.session.sid:
        return with_cookies(redirect("/signin?notice=signed_out"), cleared_session_cookie())
    return redirect("/account?notice=browser_signed_out")


@routes.route("/account/sign-out-everywhere", "POST")
def sign_out_everywhere(incoming: Incoming, services: Services) -> Response:
    principal, _form = changing_form(incoming, services)
    services.signin.sign_out_everywhere(principal, incoming.info())
    return with_cookies(redirect("/signin?notice=signed_out_everywhere"), cleared_session_cookie())


# --- pages: registration from an invitation -------------------------------------------------


@routes.route("/register/{token}", "GET")
def register_form(incoming: Incoming, services: Services, token: str) -> Response:
    try:
        with services.source_budget.attempt(incoming.info()):
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
    return anonymous_page(
        incoming,
        services,
        "register.html",
        status=status,
        account=account,
        token=token,
        action=f"/register/{token}",
        error=error,
    )


@routes.route("/register/{token}", "POST")
def register_submit(incoming: Incoming, services: Services, token: str) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info()):
            signed_in = services.credentials.register(
                token, form.get("password"), form.get("password_confirmation"), incoming.info()
            )
    except LinkNotValid as error:
        return render(incoming, "link_invalid.html", services=services, status=410, error=error)
    except SealpostError as error:
        status = shown_on_form(error)
        account = services.credentials.invited_account(token)
        return _register_page(incoming, services, account, token, status=status, error=error)
    return after_first_step(signed_in, f"{HOME}?notice=registered")
