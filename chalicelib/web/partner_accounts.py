"""Associates manage business-partner accounts (R1, R3): create and invite, resend the invitation,
unlock, terminate, see and end their sessions (ASVS 7.4.5). The JSON API under ``/api/accounts`` and
the accounts pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import RequestInfo
from chalicelib.errors import SealpostError
from chalicelib.web.http.guard import authenticate, authenticate_change, changing_form, changing_json
from chalicelib.web.http.incoming import Incoming, text_field
from chalicelib.web.http.pages import Redisplay, render
from chalicelib.web.http.responses import json_response, redirect
from chalicelib.web.http.routing import Handler, Routes
from chalicelib.web.session_list import session_view
from chalicelib.wiring.services import Services

routes = Routes(__name__)
ACCOUNTS = "/accounts"

AccountAction = Callable[[Principal, Any, RequestInfo], Account]


def _account_view(services: Services, account: Account) -> dict[str, Any]:
    return account.public_view(services.settings.lockout_threshold)


ACTIONS = ("unlock", "terminate", "invitation")


def _actions(services: Services) -> dict[str, tuple[AccountAction, str]]:
    """What each account action does, and the notice the page shows after it."""
    return {
        "unlock": (services.admin.unlock, "account_unlocked"),
        "terminate": (services.admin.terminate, "account_terminated"),
        "invitation": (services.admin.resend_invitation, "invitation_resent"),
    }


# --- JSON API -------------------------------------------------------------------------------


@routes.route("/api/accounts", "GET")
def api_list(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    accounts = services.admin.list_partners(principal, incoming.info())
    return json_response({"accounts": [_account_view(services, a) for a in accounts]})


@routes.route("/api/accounts", "POST")
def api_create(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services)
    created = services.admin.create_partner(
        principal,
        text_field(body, "email", max_length=254),
        text_field(body, "display_name", required=False, max_length=100),
        incoming.info(),
    )
    return json_response(
        {"account": _account_view(services, created.account), "invitation_sent": created.invitation_sent}, status=201
    )


def _api_action(action: str) -> Handler:
    def act(incoming: Incoming, services: Services, username: str) -> Response:
        principal = authenticate_change(incoming, services)
        handler, _notice = _actions(services)[action]
        return json_response({"account": _account_view(services, handler(principal, username, incoming.info()))})

    return act


def _page_action(action: str) -> Handler:
    def act(incoming: Incoming, services: Services, username: str) -> Response:
        principal, _form = changing_form(incoming, services)
        handler, notice = _actions(services)[action]
        handler(principal, username, incoming.info())
        return redirect(f"{ACCOUNTS}?notice={notice}")

    return act


for _action in ACTIONS:
    routes.route(f"/api/accounts/{{username}}/{_action}", "POST", name=f"api_{_action}")(_api_action(_action))
    routes.route(f"{ACCOUNTS}/{{username}}/{_action}", "POST", name=_action)(_page_action(_action))


# --- the accounts page ----------------------------------------------------------------------


@routes.route(ACCOUNTS, "GET")
def accounts_page(incoming: Incoming, services: Services) -> Response:
    return _accounts_page(incoming, services, authenticate(incoming, services), Redisplay())


def _accounts_page(incoming: Incoming, services: Services, principal: Principal, again: Redisplay) -> Response:
    partners = services.admin.list_partners(principal, incoming.info())
    return render(
        incoming,
        "associate_home.html",
        services=services,
        principal=principal,
        status=again.status,
        partners=[_account_view(services, p) for p in partners],
        error=again.error,
        form=again.form,
    )


@routes.route(ACCOUNTS, "POST")
def create_account(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
    try:
        created = services.admin.create_partner(principal, form.get("email"), form.get("display_name"), incoming.info())
    except SealpostError as error:
        return _accounts_page(incoming, services, principal, Redisplay.after(error, form, conflicts=True))
    notice = "account_created" if created.invitation_sent else "account_created_no_mail"
    return redirect(f"{ACCOUNTS}?notice={notice}")


# --- a partner's sessions -------------------------------------------------------------------


@routes.route(f"{ACCOUNTS}/{{username}}/sessions", "GET")
def partner_sessions_page(incoming: Incoming, services: Services, username: str) -> Response:
    principal = authenticate(incoming, services)
    account, sessions = services.admin.partner_sessions(principal, username, incoming.info())
    return render(
        incoming,
        "partner_sessions.html",
        services=services,
        principal=principal,
        account=_account_view(services, account),
        sessions=[session_view(s) for s in sessions],
    )


@routes.route(f"{ACCOUNTS}/{{username}}/sessions/{{sid}}/end", "POST")
def end_partner_session(incoming: Incoming, services: Services, username: str, sid: str) -> Response:
    principal, _form = changing_form(incoming, services)
    account = services.admin.end_partner_session(principal, username, sid, incoming.info())
    return redirect(f"{ACCOUNTS}/{account.username}/sessions?notice=partner_session_ended")


@routes.route(f"{ACCOUNTS}/{{username}}/sessions/end-all", "POST")
def end_partner_sessions(incoming: Incoming, services: Services, username: str) -> Response:
    principal, _form = changing_form(incoming, services)
    account = services.admin.end_partner_sessions(principal, username, incoming.info())
    return redirect(f"{ACCOUNTS}/{account.username}/sessions?notice=partner_sessions_ended")
