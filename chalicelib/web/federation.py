"""Signing in through an OpenID provider (chalicelib/identity): ``/auth/{provider}/start`` sends the
browser to the provider, ``/auth/{provider}/callback`` takes it back, ``/signed-out`` offers the
provider's own sign-out after ours.

The sign-in page links to the start with a plain GET (a form POST answered by a redirect to the
provider would be blocked by the CSP's ``form-action 'self'``). The callback answers 200 with a page
that goes on to ``/home``: the provider sends the browser back cross-site, so a redirect from here
would still be cross-site and the new SameSite=Strict session cookie would not go with it.
"""

from __future__ import annotations

from urllib.parse import quote

from chalice.app import Response

from chalicelib.accounts.sessions import ENROL, Principal
from chalicelib.errors import FederatedSignInRefused
from chalicelib.identity.transactions import COOKIE_NAME, TTL_SECONDS
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import render, safe_next
from chalicelib.web.http.responses import session_cookie, with_cookies
from chalicelib.web.http.routing import Routes
from chalicelib.web.http.status import status_for
from chalicelib.web.second_factor import ENROL_PAGE, VERIFY
from chalicelib.wiring.services import Services

routes = Routes(__name__)
PARAMETERS = ("code", "state", "iss", "error")


def transaction_cookie(value: str, *, max_age: int) -> str:
    # Lax, not Strict: the provider's redirect back to the callback is a cross-site navigation.
    return f"{COOKIE_NAME}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}"


def sign_in_links(services: Services) -> list[dict[str, str]]:
    """The "Sign in with ..." links of the sign-in page: the associates' provider, if configured."""
    if not services.federation.configured("associates"):
        return []
    return [{"href": "/auth/associates/start", "label": f"Sign in with {services.settings.plan_name}"}]


def after_sign_out(principal: Principal) -> str:
    """Where sign-out goes: a session from a provider offers that provider's sign-out as well."""
    if principal.session.method == "oidc":
        provider = "associates" if principal.account.is_associate else "partners"
        return f"/signed-out?provider={provider}"
    return "/signin?notice=signed_out"


@routes.route("/auth/{provider}/start", "GET")
def start(incoming: Incoming, services: Services, provider: str) -> Response:
    started = services.federation.start(provider, safe_next(incoming.query("next")), incoming.cookie(COOKIE_NAME))
    response = Response(body="", status_code=302, headers={"Location": started.url})
    return with_cookies(response, transaction_cookie(started.browser_secret, max_age=TTL_SECONDS))


@routes.route("/auth/{provider}/callback", "GET")
def callback(incoming: Incoming, services: Services, provider: str) -> Response:
    params = {name: value for name in PARAMETERS if (value := incoming.query(name)) is not None}
    try:
        finished = services.federation.callback(provider, params, incoming.cookie(COOKIE_NAME), incoming.info())
    except FederatedSignInRefused as refused:
        page = render(
            incoming,
            "signin_failed.html",
            services=services,
            status=status_for(refused),
            message=refused.public_message,
        )
        return with_cookies(page, transaction_cookie("", max_age=0))
    signed_in = finished.signed_in
    target = finished.next_path
    if not signed_in.complete:  # AssociateIdpMfa=sealpost: Sealpost's own second factor (or enrolment) first
        step = ENROL_PAGE if signed_in.session.stage == ENROL else VERIFY
        target = f"{step}?next={quote(finished.next_path, safe='/')}"
    continued = render(incoming, "oidc_continue.html", services=services, next=target)
    return with_cookies(continued, session_cookie(signed_in.session_secret), transaction_cookie("", max_age=0))


@routes.route("/signed-out", "GET")
def signed_out(incoming: Incoming, services: Services) -> Response:
    provider = incoming.query("provider")
    url = services.federation.end_session_url(provider) if provider in ("associates", "partners") else None
    return render(incoming, "signed_out.html", services=services, end_session_url=url)
