"""The second factor's pages (chalicelib/mfa): the step after the password (``/signin/verify``),
enrolment (``/enrol``, its recovery codes shown once), one's own factors (``/account/security``), and
an associate's reset of a partner's factor. Their JSON twins: ``second_factor_api``.

A pending session (stage ``factor`` or ``enrol``) reaches these pages only: every other route resolves
``full`` sessions only. Its forms carry a CSRF token derived from the pending secret, like a full
session's. Everything works without JavaScript; with it, the pages also offer passkeys and security
keys (``/static/passkeys.js`` runs the browser's ceremony and posts its answer in a plain form).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME, ENROL, Principal, csrf_token_for
from chalicelib.accounts.signin import SignedIn
from chalicelib.errors import (
    AccountLocked,
    AuthenticationRequired,
    CrossSiteRequestRejected,
    SealpostError,
)
from chalicelib.mfa.passkey_factor import registered
from chalicelib.mfa.passkeys import Passkey
from chalicelib.mfa.second_factor import Offer, Pending
from chalicelib.web.http.guard import (
    CSRF_FIELD,
    CSRF_HEADER,
    authenticate,
    authenticate_change,
    changing_form,
    check_same_origin,
)
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import HOME, anonymous_page, render, safe_next, shown_on_form
from chalicelib.web.http.responses import (
    cleared_session_cookie,
    json_response,
    redirect,
    session_cookie,
    signed_in_json,
    with_cookies,
)
from chalicelib.web.http.routing import Routes
from chalicelib.web.http.status import status_for
from chalicelib.wiring.services import Services

routes = Routes(__name__)
VERIFY, ENROL_PAGE, RECOVERY_PAGE, SECURITY = "/signin/verify", "/enrol", "/enrol/recovery-codes", "/account/security"


# --- what the first step (password, registration, pickup) answers -------------------------------


def after_first_step(signed_in: SignedIn, next_path: str | None) -> Response:
    """The page answer to a right password: the destination, or the second-factor step first."""
    target = safe_next(next_path)
    if signed_in.complete:
        return with_cookies(redirect(target), session_cookie(signed_in.session_secret))
    page = ENROL_PAGE if signed_in.session.stage == ENROL else VERIFY
    return with_cookies(redirect(f"{page}?next={quote(target, safe='/')}"), session_cookie(signed_in.session_secret))


def first_step_json(signed_in: SignedIn, status: int = 200, **extra: Any) -> Response:
    """The API answer to a right password: signed in, or which second-factor step comes next (and
    the CSRF token of the pending session for it)."""
    if signed_in.complete:
        return signed_in_json(signed_in, status, **extra)
    step = "enrolment_required" if signed_in.session.stage == ENROL else "second_factor_required"
    body = {step: True, "csrf_token": csrf_token_for(signed_in.session_secret), **extra}
    return with_cookies(json_response(body, status), session_cookie(signed_in.session_secret))


# --- the pending session -----------------------------------------------------------------------


def pending_session(incoming: Incoming, services: Services, form: dict[str, str] | None = None) -> Pending:
    """The pending session behind the cookie; with ``form`` (or for JSON, the header) also the CSRF checks."""
    secret = incoming.cookie(COOKIE_NAME)
    if incoming.method != "GET":  # the CSRF checks first, as for a signed-in change
        check_same_origin(incoming, services.settings.portal_url)
        submitted = form.get(CSRF_FIELD) if form is not None else incoming.header(CSRF_HEADER)
        expected = csrf_token_for(secret or "")
        if not secret or not submitted or not hmac.compare_digest(submitted.encode(), expected.encode()):
            raise CrossSiteRequestRejected()
    return services.second_factor.pending(secret)


def _enroller(incoming: Incoming, services: Services, form: dict[str, str] | None = None) -> tuple[Account, Any]:
    """Who is enrolling: a pending ``enrol`` session, or a signed-in person replacing their factor.
    Returns the account and the ``Pending`` or the ``Principal``."""
    try:
        pending = pending_session(incoming, services, form)
    except AuthenticationRequired:
        principal = authenticate_change(incoming, services, form) if incoming.method != "GET" else None
        principal = principal or authenticate(incoming, services)
        return principal.account, principal
    if pending.stage != ENROL:
        raise AuthenticationRequired()
    return pending.account, pending


def _csrf_of(incoming: Incoming, who: Any) -> str:
    if isinstance(who, Principal):
        return who.csrf_token
    return csrf_token_for(str(incoming.cookie(COOKIE_NAME)))


def _data(options_json: str | None) -> Any:
    """A ceremony's options as data, for the page's JSON block (``tojson`` escapes it for HTML)."""
    return None if options_json is None else json.loads(options_json)


def _next(incoming: Incoming, form: dict[str, str] | None = None) -> str:
    return safe_next((form or {}).get("next") or incoming.query("next"))


# --- pages: the step after the password ----------------------------------------------------------


@routes.route(VERIFY, "GET")
def verify_form(incoming: Incoming, services: Services) -> Response:
    try:
        pending = pending_session(incoming, services)
    except AuthenticationRequired:
        return redirect("/signin")
    if pending.stage == ENROL:
        return redirect(f"{ENROL_PAGE}?next={quote(_next(incoming), safe='/')}")
    return _verify_page(incoming, services, pending)


def _verify_page(
    incoming: Incoming,
    services: Services,
    pending: Pending,
    *,
    status: int = 200,
    error: SealpostError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    factors = services.second_factor.factor_set(pending.account)  # one read for the page
    return render(
        incoming,
        "second_factor.html",
        services=services,
        status=status,
        csrf_token=_csrf_of(incoming, pending),
        next=_next(incoming, form),
        has_app=factors.has_totp,
        passkey_options=_data(services.passkeys.sign_in_options(pending, factors)),
        error=error,
        warning=getattr(error, "warning", None),
    )


@routes.route(VERIFY, "POST")
def verify_submit(incoming: Incoming, services: Services) -> Response:
    return _verified(
        incoming,
        services,
        lambda pending, form: services.second_factor.verify(pending, form.get("code"), incoming.info()),
    )


@routes.route(VERIFY + "/passkey", "POST")
def verify_passkey(incoming: Incoming, services: Services) -> Response:
    return _verified(
        incoming,
        services,
        lambda pending, form: services.passkeys.verify(pending, form.get("credential"), incoming.info()),
    )


def _verified(incoming: Incoming, services: Services, step: Callable[[Pending, dict[str, str]], SignedIn]) -> Response:
    """The answer to a second step (a code or a passkey): the destination, the page with what was
    wrong, or the sign-in page when the failure locked the account."""
    form = incoming.form()
    pending = pending_session(incoming, services, form)
    try:
        signed_in = step(pending, form)
    except AccountLocked as error:
        page = anonymous_page(incoming, services, "signin.html", status=status_for(error), error=error, next=HOME)
        return with_cookies(page, cleared_session_cookie())
    except SealpostError as error:
        return _verify_page(
            incoming, services, pending, status=shown_on_form(error, conflicts=True), error=error, form=form
        )
    return with_cookies(redirect(_next(incoming, form)), session_cookie(signed_in.session_secret))


# --- pages: enrolment ----------------------------------------------------------------------------


@routes.route(ENROL_PAGE, "GET")
def enrol_form(incoming: Incoming, services: Services) -> Response:
    try:
        account, who = _enroller(incoming, services)
    except AuthenticationRequired:
        return redirect("/signin")
    return _enrol_page(incoming, services, account, who, services.second_factor.offer(account))


def _enrol_page(
    incoming: Incoming,
    services: Services,
    account: Account,
    who: Any,
    offer: Offer | None,
    *,
    status: int = 200,
    error: SealpostError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    principal = who if isinstance(who, Principal) else None
    factors = services.second_factor.factor_set(account)  # one read for the page
    return render(
        incoming,
        "enrol.html",
        services=services,
        principal=principal,
        status=status,
        csrf_token=_csrf_of(incoming, who),
        offer=offer,
        account_name=account.email,
        needs_proof=principal is not None and factors.has_factor,
        may_skip=principal is None and services.second_factor.may_skip,
        # A passkey instead of the app while enrolling; once signed in, the security page adds them.
        passkey_options=None
        if principal
        else _data(services.passkeys.registration_options(account, who.session, factors)),
        next=_next(incoming, form),
        error=error,
    )


@routes.route(ENROL_PAGE, "POST")
def enrol_submit(incoming: Incoming, services: Services) -> Response:
    form = incoming.form()
    account, who = _enroller(incoming, services, form)
    try:
        if isinstance(who, Principal):
            services.second_factor.replace(who, form.get("proof"), form.get("code"), incoming.info())
        else:
            services.second_factor.confirm(account, form.get("code"), incoming.info())
    except AccountLocked:
        return _locked_out()
    except SealpostError as error:
        status = shown_on_form(error, conflicts=True)
        offer = services.second_factor.offer(account)
        return _enrol_page(incoming, services, account, who, offer, status=status, error=error, form=form)
    return _enrolled(incoming, services, who, form, "totp")


@routes.route(ENROL_PAGE + "/passkey", "POST")
def enrol_passkey(incoming: Incoming, services: Services) -> Response:
    """A passkey created in the browser: while enrolling (instead of the app), or from the security page."""
    form = incoming.form()
    account, who = _enroller(incoming, services, form)
    try:
        if isinstance(who, Principal):
            first = services.passkeys.add(who, form.get("proof"), form.get("credential"), incoming.info())
        else:
            services.passkeys.register(account, who.session, form.get("credential"), incoming.info())
    except AccountLocked:
        return _locked_out()
    except SealpostError as error:
        status = shown_on_form(error, conflicts=True)
        if isinstance(who, Principal):
            return _security_page(incoming, services, who, status=status, error=error)
        offer = services.second_factor.offer(account)
        return _enrol_page(incoming, services, account, who, offer, status=status, error=error, form=form)
    if isinstance(who, Principal) and not first:
        return redirect(f"{SECURITY}?notice=passkey_added")
    return _enrolled(incoming, services, who, form, "passkey")


def _enrolled(incoming: Incoming, services: Services, who: Any, form: dict[str, str], factor: str) -> Response:
    """After a first or new factor: the recovery codes (shown once), and for a pending enrolment the
    completed sign-in under a new token."""
    target = f"{RECOVERY_PAGE}?next={quote(_next(incoming, form), safe='/')}"
    if isinstance(who, Principal):
        return redirect(target)
    signed_in = services.second_factor.finish_enrolment(who, incoming.info(), factor)
    return with_cookies(redirect(target), session_cookie(signed_in.session_secret))


def _locked_out() -> Response:
    return with_cookies(redirect("/signin?notice=session_ended"), cleared_session_cookie())


@routes.route(ENROL_PAGE + "/skip", "POST")
def enrol_skip(incoming: Incoming, services: Services) -> Response:
    form = incoming.form()
    signed_in = services.second_factor.skip(pending_session(incoming, services, form), incoming.info())
    return with_cookies(redirect(_next(incoming, form)), session_cookie(signed_in.session_secret))


@routes.route(RECOVERY_PAGE, "GET")
def recovery_codes_page(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    codes = services.second_factor.recovery_codes(principal.account, incoming.info(), due_only=True)
    if codes is None:  # shown once: a reload does not show them again
        return redirect(SECURITY)
    return _codes_page(incoming, services, principal, codes, _next(incoming))


def _codes_page(incoming: Incoming, services: Services, principal: Principal, codes: list[str], after: str) -> Response:
    return render(incoming, "recovery_codes.html", services=services, principal=principal, codes=codes, next=after)


# --- pages: one's own factors ----------------------------------------------------------------------


@routes.route(SECURITY, "GET")
def security_page(incoming: Incoming, services: Services) -> Response:
    return _security_page(incoming, services, authenticate(incoming, services))


def _security_page(
    incoming: Incoming, services: Services, principal: Principal, *, status: int = 200, error: Any = None
) -> Response:
    factors = services.second_factor.factor_set(principal.account)  # one read for the page
    return render(
        incoming,
        "account_security.html",
        services=services,
        principal=principal,
        status=status,
        factors=factors,
        passkeys=[_passkey_row(passkey) for passkey in registered(factors)],
        passkey_options=_data(services.passkeys.registration_options(principal.account, principal.session, factors)),
        may_remove=services.settings.mfa_policy != "required",
        error=error,
        warning=getattr(error, "warning", None),
    )


# How a passkey's transports read on the security page (the first that is known names it).
PASSKEY_KINDS = (
    ("internal", "This device (fingerprint, face or PIN)"),
    ("hybrid", "A phone"),
    ("usb", "Security key"),
    ("nfc", "Security key"),
    ("ble", "Security key"),
)


def _passkey_row(passkey: Passkey) -> dict[str, str]:
    kind = next((label for transport, label in PASSKEY_KINDS if transport in passkey.transports), "Passkey")

    def day(epoch: int) -> str:
        return datetime.fromtimestamp(epoch, tz=UTC).strftime("%d %b %Y")

    return {
        "credential_id": passkey.credential_id,
        "kind": kind,
        "added": day(passkey.created_at),
        "last_used": day(passkey.last_used_at) if passkey.last_used_at else "Not yet",
    }


@routes.route(SECURITY + "/recovery-codes", "POST")
def regenerate_recovery_codes(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
    try:
        codes = services.second_factor.regenerate_recovery_codes(principal, form.get("proof"), incoming.info())
    except AccountLocked:
        return _locked_out()
    except SealpostError as error:
        return _security_page(incoming, services, principal, status=shown_on_form(error, conflicts=True), error=error)
    return _codes_page(incoming, services, principal, codes, SECURITY)


@routes.route(SECURITY + "/remove", "POST")
def remove_factors(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
    try:
        services.second_factor.remove(principal, form.get("remove_proof"), incoming.info())
    except AccountLocked:
        return _locked_out()
    except SealpostError as error:
        return _security_page(incoming, services, principal, status=shown_on_form(error), error=error)
    return redirect(f"{SECURITY}?notice=second_factor_removed")


@routes.route(SECURITY + "/passkeys/remove", "POST")
def remove_passkey(incoming: Incoming, services: Services) -> Response:
    principal, form = changing_form(incoming, services)
    try:
        services.passkeys.remove(principal, form.get("credential_id"), form.get("passkey_proof"), incoming.info())
    except AccountLocked:
        return _locked_out()
    except SealpostError as error:
        status = shown_on_form(error, conflicts=True)
        return _security_page(incoming, services, principal, status=status, error=error)
    return redirect(f"{SECURITY}?notice=passkey_removed")


# --- an associate resets a partner's factor -----------------------------------------------------


@routes.route("/accounts/{username}/second-factor/reset", "POST")
def reset_partner(incoming: Incoming, services: Services, username: str) -> Response:
    principal, _form = changing_form(incoming, services)
    services.second_factor.reset(principal, username, incoming.info())
    return redirect("/accounts?notice=second_factor_reset")


@routes.route("/api/accounts/{username}/second-factor/reset", "POST")
def api_reset_partner(incoming: Incoming, services: Services, username: str) -> Response:
    principal = authenticate_change(incoming, services)
    account = services.second_factor.reset(principal, username, incoming.info())
    return json_response({"account": account.public_view(services.settings.lockout_threshold), "reset": True})
