"""Administrators manage the plan's associate accounts (issue 12: "administrator: manages accounts and
policies"): the ``/associates`` page and its JSON twin under ``/api/associates``: list, disable, enable
again, end every session, unlock. Everyone else gets 403, audited (``accounts.associates``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.accounts.associates import AssociateAccounts
from chalicelib.accounts.directory import Invited
from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal
from chalicelib.audit.records import RequestInfo
from chalicelib.web.http.guard import authenticate, authenticate_change, changing_form
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import render
from chalicelib.web.http.responses import json_response, redirect
from chalicelib.web.http.routing import Handler, Routes
from chalicelib.wiring.services import Services

routes = Routes(__name__)
ASSOCIATES = "/associates"

Done = tuple[Account, str, bool | None]  # the account, the page's notice, whether an invitation was mailed
Action = Callable[[AssociateAccounts, Principal, str, RequestInfo], Done]


def associate_view(services: Services, account: Account) -> dict[str, Any]:
    """What an administrator sees of an associate account (no hash, no counters beyond the lock)."""
    return {
        **account.public_view(services.settings.lockout_threshold),
        "linked_provider": account.linked_provider,
        "password_signin": account.password_hash is not None and not account.break_glass,
        "last_signin_at": account.last_signin_at or None,
    }


def _disable(associates: AssociateAccounts, principal: Principal, username: str, request: RequestInfo) -> Done:
    return associates.disable(principal, username, request), "associate_disabled", None


def _enable(associates: AssociateAccounts, principal: Principal, username: str, request: RequestInfo) -> Done:
    invited: Invited = associates.enable(principal, username, request)
    notice = "associate_enabled" if invited.mailed else "associate_enabled_no_mail"
    return invited.account, notice, invited.mailed


def _end_sessions(associates: AssociateAccounts, principal: Principal, username: str, request: RequestInfo) -> Done:
    return associates.end_sessions(principal, username, request), "associate_sessions_ended", None


def _unlock(associates: AssociateAccounts, principal: Principal, username: str, request: RequestInfo) -> Done:
    return associates.unlock(principal, username, request), "associate_unlocked", None


ACTIONS: dict[str, Action] = {
    "disable": _disable,
    "enable": _enable,
    "end-sessions": _end_sessions,
    "unlock": _unlock,
}


# --- JSON API -------------------------------------------------------------------------------


@routes.route("/api/associates", "GET")
def api_list(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    accounts = services.associates.listing(principal, incoming.info())
    return json_response({"associates": [associate_view(services, a) for a in accounts]})


def _api_action(action: str) -> Handler:
    def act(incoming: Incoming, services: Services, username: str) -> Response:
        principal = authenticate_change(incoming, services)
        account, _notice, mailed = ACTIONS[action](services.associates, principal, username, incoming.info())
        body: dict[str, Any] = {"account": associate_view(services, account)}
        if mailed is not None:
            body["invitation_sent"] = mailed
        return json_response(body)

    return act


def _page_action(action: str) -> Handler:
    def act(incoming: Incoming, services: Services, username: str) -> Response:
        principal, _form = changing_form(incoming, services)
        _account, notice, _mailed = ACTIONS[action](services.associates, principal, username, incoming.info())
        return redirect(f"{ASSOCIATES}?notice={notice}")

    return act


for _action in ACTIONS:
    _name = _action.replace("-", "_")
    routes.route(f"/api/associates/{{username}}/{_action}", "POST", name=f"api_{_name}")(_api_action(_action))
    routes.route(f"{ASSOCIATES}/{{username}}/{_action}", "POST", name=_name)(_page_action(_action))


# --- the page -------------------------------------------------------------------------------


@routes.route(ASSOCIATES, "GET")
def associates_page(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    accounts = services.associates.listing(principal, incoming.info())
    return render(
        incoming,
        "associates.html",
        services=services,
        principal=principal,
        associates=[associate_view(services, a) for a in accounts],
    )
