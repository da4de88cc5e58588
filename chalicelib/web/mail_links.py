"""Pages and API reached from links in mail: pickup links (the first registers, later ones sign in,
an expired one asks for a new one), an associate resending a pickup link, forgot and reset password."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.accounts.model import LockCause
from chalicelib.accounts.tokens import TokenState
from chalicelib.errors import AccountLocked, InvalidCredentials, LinkNotValid, SealpostError
from chalicelib.messaging.pickup import Pickup
from chalicelib.web.http.guard import anonymous_form, anonymous_json, authenticate_change, changing_form
from chalicelib.web.http.incoming import Incoming, password_field, token_field
from chalicelib.web.http.pages import NOTICES, anonymous_page, render, shown_on_form
from chalicelib.web.http.responses import json_response, redirect
from chalicelib.web.http.routing import Routes
from chalicelib.web.http.status import status_for
from chalicelib.web.second_factor import after_first_step, first_step_json
from chalicelib.wiring.services import Services

routes = Routes(__name__)

FORGOT_ANSWER = (
    "If the user name or mail address matches an account, we have sent a link to choose a new password. "
    "It works once, for 10 minutes. Check your mail, including the spam folder."
)


def _invalid_pickup(incoming: Incoming, services: Services, token: str) -> Response:
    return anonymous_page(
        incoming, services, "link_invalid.html", status=410, error=LinkNotValid(), renew_action=f"/p/{token}/renew"
    )


# --- JSON API -------------------------------------------------------------------------------


@routes.route("/api/pickup/{token}/register", "POST")
def api_pickup_register(incoming: Incoming, services: Services, token: str) -> Response:
    body = anonymous_json(incoming, services)
    password = password_field(body)
    with services.source_budget.attempt(incoming.info()):
        signed_in, thread_id = services.pickup.register(token, password, None, incoming.info())
    return first_step_json(signed_in, 201, thread_id=thread_id)


@routes.route("/api/pickup/{token}/signin", "POST")
def api_pickup_sign_in(incoming: Incoming, services: Services, token: str) -> Response:
    body = anonymous_json(incoming, services)
    password = password_field(body)
    with services.source_budget.attempt(incoming.info()):
        signed_in, thread_id = services.pickup.sign_in(token, password, incoming.info())
    return first_step_json(signed_in, thread_id=thread_id)


@routes.route("/api/threads/{thread_id}/participants/{username}/pickup-link", "POST")
def api_resend_pickup(incoming: Incoming, services: Services, thread_id: str, username: str) -> Response:
    principal = authenticate_change(incoming, services)
    account = services.pickup.resend(principal, thread_id, username, incoming.info())
    return json_response({"sent_to": account.username})


@routes.route("/api/password/forgot", "POST")
def api_forgot_password(incoming: Incoming, services: Services) -> Response:
    body = anonymous_json(incoming, services)
    # Every request counts, matched or not: the answer must not tell, and each may send mail.
    with services.source_budget.attempt(incoming.info(), always_counts=True):
        services.password_reset.request(body.get("identifier"), incoming.info())
    return json_response({"message": FORGOT_ANSWER}, status=202)


@routes.route("/api/password/reset", "POST")
def api_reset_password(incoming: Incoming, services: Services) -> Response:
    body = anonymous_json(incoming, services)
    token, password = token_field(body), password_field(body)
    with services.source_budget.attempt(incoming.info()):
        account = services.password_reset.complete(token, password, None, incoming.info())
    lock = account.lock_cause(services.settings.lockout_threshold)
    return json_response(
        {
            "username": account.username,
            "locked": lock is not None,
            "locked_by": str(lock) if lock else None,
            "message": NOTICES[_after_reset(lock)],
        }
    )


def _after_reset(lock: LockCause | None) -> str:
    """The notice after a reset: done; still locked (an associate unlocks); or locked by wrong second-factor
    codes, which a reset never lifts, whatever ``SelfServiceUnlock`` says."""
    if lock is None:
        return "password_reset"
    return "password_reset_factor_locked" if lock is LockCause.SECOND_FACTOR else "password_reset_locked"


# --- pickup ---------------------------------------------------------------------------


@routes.route("/p/{token}", "GET")
def pickup_page(incoming: Incoming, services: Services, token: str) -> Response:
    with services.source_budget.attempt(incoming.info()) as attempt:
        pickup = services.pickup.open(token)
        if pickup is None or pickup.state is not TokenState.VALID:
            attempt.failed()
    return _pickup_page(incoming, services, token, pickup)


def _pickup_page(
    incoming: Incoming,
    services: Services,
    token: str,
    pickup: Pickup | None,
    *,
    status: int = 200,
    error: SealpostError | None = None,
) -> Response:
    if pickup is None or pickup.state is not TokenState.VALID:
        return _invalid_pickup(incoming, services, token)
    if pickup.first_time:
        return anonymous_page(
            incoming,
            services,
            "register.html",
            status=status,
            error=error,
            account=pickup.account,
            token=token,
            action=f"/p/{token}",
            reference_code=pickup.thread.reference_code,
        )
    return anonymous_page(
        incoming,
        services,
        "pickup_signin.html",
        status=status,
        error=error,
        warning=getattr(error, "warning", None),
        username=pickup.account.username,
        reference_code=pickup.thread.reference_code,
        action=f"/p/{token}/signin",
    )


@routes.route("/p/{token}", "POST")
def pickup_register(incoming: Incoming, services: Services, token: str) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info()):
            signed_in, thread_id = services.pickup.register(
                token, form.get("password"), form.get("password_confirmation"), incoming.info()
            )
    except LinkNotValid:
        return _invalid_pickup(incoming, services, token)
    except SealpostError as error:
        status = shown_on_form(error)
        return _pickup_page(incoming, services, token, services.pickup.open(token), status=status, error=error)
    return after_first_step(signed_in, f"/threads/{thread_id}?notice=registered")


@routes.route("/p/{token}/signin", "POST")
def pickup_sign_in(incoming: Incoming, services: Services, token: str) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info()):
            signed_in, thread_id = services.pickup.sign_in(token, form.get("password"), incoming.info())
    except LinkNotValid:
        return _invalid_pickup(incoming, services, token)
    except (InvalidCredentials, AccountLocked) as error:
        pickup = services.pickup.open(token)
        return _pickup_page(incoming, services, token, pickup, status=status_for(error), error=error)
    except SealpostError as error:
        status = shown_on_form(error)
        return _pickup_page(incoming, services, token, services.pickup.open(token), status=status, error=error)
    return after_first_step(signed_in, f"/threads/{thread_id}")


@routes.route("/p/{token}/renew", "POST")
def pickup_renew(incoming: Incoming, services: Services, token: str) -> Response:
    anonymous_form(incoming, services)
    # Each request may mail the thread's associates: every one counts.
    with services.source_budget.attempt(incoming.info(), always_counts=True):
        services.pickup.request_new_link(token, incoming.info())
    return render(
        incoming,
        "message_page.html",
        services=services,
        heading="We have asked for a new link",
        paragraphs=[
            "The associate who wrote to you has been told that you need a new link. You will receive it by mail.",
            "If you already have a password, you can sign in directly.",
        ],
    )


@routes.route("/threads/{thread_id}/participants/{username}/pickup-link", "POST")
def resend_pickup(incoming: Incoming, services: Services, thread_id: str, username: str) -> Response:
    principal, _form = changing_form(incoming, services)
    services.pickup.resend(principal, thread_id, username, incoming.info())
    return redirect(f"/threads/{thread_id}?notice=link_sent")


# --- forgot and reset password ----------------------------------------------------------


@routes.route("/forgot", "GET")
def forgot_form(incoming: Incoming, services: Services) -> Response:
    return anonymous_page(incoming, services, "forgot.html")


@routes.route("/forgot", "POST")
def forgot_submit(incoming: Incoming, services: Services) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info(), always_counts=True):
            services.password_reset.request(form.get("identifier"), incoming.info())
    except SealpostError as error:
        return anonymous_page(incoming, services, "forgot.html", status=shown_on_form(error), error=error)
    return render(
        incoming, "message_page.html", services=services, heading="Check your mail", paragraphs=[FORGOT_ANSWER]
    )


def _reset_invalid(incoming: Incoming, services: Services) -> Response:
    return anonymous_page(incoming, services, "link_invalid.html", status=410, error=LinkNotValid(), forgot=True)


@routes.route("/reset/{token}", "GET")
def reset_form(incoming: Incoming, services: Services, token: str) -> Response:
    try:
        with services.source_budget.attempt(incoming.info()):
            account = services.password_reset.account_for(token)
    except LinkNotValid:
        return _reset_invalid(incoming, services)
    return anonymous_page(incoming, services, "reset.html", account=account, token=token)


@routes.route("/reset/{token}", "POST")
def reset_submit(incoming: Incoming, services: Services, token: str) -> Response:
    form = anonymous_form(incoming, services)
    try:
        with services.source_budget.attempt(incoming.info()):
            account = services.password_reset.complete(
                token, form.get("password"), form.get("password_confirmation"), incoming.info()
            )
    except LinkNotValid:
        return _reset_invalid(incoming, services)
    except SealpostError as error:
        status = shown_on_form(error)
        account = services.password_reset.account_for(token)
        return anonymous_page(
            incoming, services, "reset.html", status=status, error=error, account=account, token=token
        )
    return redirect("/signin?notice=" + _after_reset(account.lock_cause(services.settings.lockout_threshold)))
