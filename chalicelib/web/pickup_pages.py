"""Pages reached from mail links: pickup (first registration or sign-in), forgot and reset password."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.accounts.tokens import TokenState
from chalicelib.errors import AccountLocked, InvalidCredentials, LinkNotValid, SealpostError
from chalicelib.web.errors import status_for
from chalicelib.web.guard import anonymous_form_token, authenticate_change, check_anonymous_form
from chalicelib.web.incoming import Incoming
from chalicelib.web.pages import render
from chalicelib.web.responses import redirect, session_cookie, with_cookies
from chalicelib.wiring import services as services_module

FORGOT_ANSWER = (
    "If the user name or mail address matches an account, we have sent a link to choose a new password. "
    "It works once, for 10 minutes. Check your mail, including the spam folder."
)


def _anonymous_page(incoming: Incoming, template: str, *, status: int = 200, **context: Any) -> Response:
    services = services_module.current()
    token, new_cookie = anonymous_form_token(incoming)
    response = render(incoming, template, services=services, status=status, csrf_token=token, **context)
    return with_cookies(response, *([new_cookie] if new_cookie else []))


def _invalid_pickup(incoming: Incoming, token: str) -> Response:
    return _anonymous_page(
        incoming, "link_invalid.html", status=410, error=LinkNotValid(), renew_action=f"/p/{token}/renew"
    )


# --- pickup ---------------------------------------------------------------------------


def pickup_page(incoming: Incoming, token: str, *, status: int = 200, error: SealpostError | None = None) -> Response:
    pickup = services_module.current().pickup.open(token)
    if pickup is None or pickup.state is not TokenState.VALID:
        return _invalid_pickup(incoming, token)
    if pickup.first_time:
        return _anonymous_page(
            incoming,
            "register.html",
            status=status,
            error=error,
            account=pickup.account,
            token=token,
            action=f"/p/{token}",
            reference_code=pickup.thread.reference_code,
        )
    return _anonymous_page(
        incoming,
        "pickup_signin.html",
        status=status,
        error=error,
        warning=getattr(error, "warning", None),
        username=pickup.account.username,
        reference_code=pickup.thread.reference_code,
        action=f"/p/{token}/signin",
    )


def pickup_register(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        signed_in, thread_id = services.pickup.register(
            token, form.get("password"), form.get("password_confirmation"), incoming.info()
        )
    except LinkNotValid:
        return _invalid_pickup(incoming, token)
    except SealpostError as error:
        if error.field is None:
            raise
        return pickup_page(incoming, token, status=status_for(error), error=error)
    target = f"/threads/{thread_id}?notice=registered"
    return with_cookies(redirect(target), session_cookie(signed_in.session_secret))


def pickup_sign_in(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        signed_in, thread_id = services.pickup.sign_in(token, form.get("password"), incoming.info())
    except LinkNotValid:
        return _invalid_pickup(incoming, token)
    except (InvalidCredentials, AccountLocked) as error:
        return pickup_page(incoming, token, status=status_for(error), error=error)
    except SealpostError as error:
        if error.field is None:
            raise
        return pickup_page(incoming, token, status=status_for(error), error=error)
    return with_cookies(redirect(f"/threads/{thread_id}"), session_cookie(signed_in.session_secret))


def pickup_renew(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
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


def resend_pickup(incoming: Incoming, thread_id: str, username: str) -> Response:
    services = services_module.current()
    principal = authenticate_change(incoming, services, incoming.form())
    services.pickup.resend(principal, thread_id, username, incoming.info())
    return redirect(f"/threads/{thread_id}?notice=link_sent")


# --- forgot and reset password ----------------------------------------------------------


def forgot_form(incoming: Incoming) -> Response:
    return _anonymous_page(incoming, "forgot.html")


def forgot_submit(incoming: Incoming) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        services.password_reset.request(form.get("identifier"), incoming.info())
    except SealpostError as error:
        if error.field is None:
            raise
        return _anonymous_page(incoming, "forgot.html", status=status_for(error), error=error)
    return render(
        incoming, "message_page.html", services=services, heading="Check your mail", paragraphs=[FORGOT_ANSWER]
    )


def _reset_invalid(incoming: Incoming) -> Response:
    return _anonymous_page(incoming, "link_invalid.html", status=410, error=LinkNotValid(), forgot=True)


def reset_form(incoming: Incoming, token: str) -> Response:
    try:
        account = services_module.current().password_reset.account_for(token)
    except LinkNotValid:
        return _reset_invalid(incoming)
    return _anonymous_page(incoming, "reset.html", account=account, token=token)


def reset_submit(incoming: Incoming, token: str) -> Response:
    services = services_module.current()
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    try:
        account = services.password_reset.complete(
            token, form.get("password"), form.get("password_confirmation"), incoming.info()
        )
    except LinkNotValid:
        return _reset_invalid(incoming)
    except SealpostError as error:
        if error.field is None:
            raise
        account = services.password_reset.account_for(token)
        return _anonymous_page(
            incoming, "reset.html", status=status_for(error), error=error, account=account, token=token
        )
    locked = account.is_locked(services.settings.lockout_threshold)
    return redirect("/signin?notice=" + ("password_reset_locked" if locked else "password_reset"))
