"""The JSON API under ``/api``. Authentication is the same session cookie the pages use."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import Principal, csrf_token_for
from chalicelib.accounts.signin import SignedIn
from chalicelib.web.guard import authenticate, authenticate_change, check_same_origin
from chalicelib.web.incoming import Incoming, text_field
from chalicelib.web.pickup_pages import FORGOT_ANSWER
from chalicelib.web.responses import cleared_session_cookie, json_response, session_cookie, with_cookies
from chalicelib.wiring import services as services_module


def _me(account: Account, csrf_token: str) -> dict[str, Any]:
    return {
        "username": account.username,
        "email": account.email,
        "display_name": account.display_name,
        "role": str(account.role),
        "csrf_token": csrf_token,
    }


def _signed_in_response(signed_in: SignedIn, status: int = 200, **extra: Any) -> Response:
    body = {**_me(signed_in.account, csrf_token_for(signed_in.session_secret)), **extra}
    return with_cookies(json_response(body, status), session_cookie(signed_in.session_secret))


def _account_view(account: Account) -> dict[str, Any]:
    return account.public_view(services_module.current().settings.lockout_threshold)


# --- session ------------------------------------------------------------------------


def sign_in(incoming: Incoming) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    signed_in = services.signin.sign_in(
        text_field(body, "username", max_length=256), text_field(body, "password", max_length=1024), incoming.info()
    )
    return _signed_in_response(signed_in)


def current_session(incoming: Incoming) -> Response:
    principal = authenticate(incoming, services_module.current())
    return json_response(_me(principal.account, principal.csrf_token))


def sign_out(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    services.signin.sign_out(principal, incoming.info())
    return with_cookies(json_response({"signed_out": True}), cleared_session_cookie())


def sign_out_everywhere(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    services.signin.sign_out_everywhere(principal, incoming.info())
    return with_cookies(json_response({"signed_out": True, "everywhere": True}), cleared_session_cookie())


def change_password(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    body = incoming.json_object(services.settings.max_json_bytes)
    signed_in = services.credentials.change_password(
        principal,
        text_field(body, "current_password", max_length=1024),
        text_field(body, "new_password", max_length=1024),
        None,
        incoming.info(),
    )
    return _signed_in_response(signed_in)


def register(incoming: Incoming) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    signed_in = services.credentials.register(
        text_field(body, "token", max_length=100) or "",
        text_field(body, "password", max_length=1024),
        None,
        incoming.info(),
    )
    return _signed_in_response(signed_in, status=201)


# --- accounts (associates only) -----------------------------------------------------


def _associate_change(incoming: Incoming) -> tuple[Principal, dict[str, Any]]:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    return principal, incoming.json_object(services.settings.max_json_bytes)


def list_accounts(incoming: Incoming) -> Response:
    services = services_module.current()
    principal = authenticate(incoming, services)
    accounts = services.admin.list_partners(principal, incoming.info())
    return json_response({"accounts": [_account_view(a) for a in accounts]})


def create_account(incoming: Incoming) -> Response:
    principal, body = _associate_change(incoming)
    created = services_module.current().admin.create_partner(
        principal,
        text_field(body, "email", max_length=254),
        text_field(body, "display_name", required=False, max_length=100),
        incoming.info(),
    )
    return json_response(
        {"account": _account_view(created.account), "invitation_sent": created.invitation_sent}, status=201
    )


def account_action(incoming: Incoming, username: str, action: str) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    handlers = {
        "unlock": services.admin.unlock,
        "terminate": services.admin.terminate,
        "invitation": services.admin.resend_invitation,
    }
    account = handlers[action](principal, username, incoming.info())
    return json_response({"account": _account_view(account)})


# --- mail links: pickup and password reset -------------------------------------------


def pickup_register(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    signed_in, thread_id = services.pickup.register(
        token, text_field(body, "password", max_length=1024), None, incoming.info()
    )
    return _signed_in_response(signed_in, status=201, thread_id=thread_id)


def pickup_sign_in(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    signed_in, thread_id = services.pickup.sign_in(
        token, text_field(body, "password", max_length=1024), incoming.info()
    )
    return _signed_in_response(signed_in, thread_id=thread_id)


def forgot_password(incoming: Incoming) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    services.password_reset.request(body.get("identifier"), incoming.info())
    return json_response({"message": FORGOT_ANSWER}, status=202)


def reset_password(incoming: Incoming) -> Response:
    services = services_module.current()
    check_same_origin(incoming, services.settings.portal_url)
    body = incoming.json_object(services.settings.max_json_bytes)
    account = services.password_reset.complete(
        text_field(body, "token", max_length=100) or "",
        text_field(body, "password", max_length=1024),
        None,
        incoming.info(),
    )
    return json_response(
        {"username": account.username, "locked": account.is_locked(services.settings.lockout_threshold)}
    )


def resend_pickup(incoming: Incoming, thread_id: str, username: str) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services)
    account = services.pickup.resend(principal, thread_id, username, incoming.info())
    return json_response({"sent_to": account.username})
