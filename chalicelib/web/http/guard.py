"""Who is asking, and whether the request really comes from our own pages (CSRF defence).

Defence in depth for every state-changing request:
1. the session cookie is SameSite=Strict;
2. a browser's ``Sec-Fetch-Site`` / ``Origin`` must say same-origin;
3. a token: for signed-in users derived from the session (``X-CSRF-Token`` header
   for JSON, ``csrf_token`` field for forms); before sign-in a double-submit
   cookie for forms. JSON requests must also be ``application/json``, which a
   cross-site form cannot send without a CORS preflight we never grant.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from chalicelib.accounts.sessions import COOKIE_NAME, Principal
from chalicelib.accounts.tokens import looks_like_token
from chalicelib.errors import CrossSiteRequestRejected
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.responses import cookie_header
from chalicelib.wiring.services import Services

FORM_COOKIE = "__Host-sealpost_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def check_same_origin(incoming: Incoming, portal_url: str) -> None:
    site = incoming.header("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise CrossSiteRequestRejected()
    origin = incoming.header("origin")
    # With Referrer-Policy: no-referrer, browsers send "Origin: null" on form posts; the
    # token then carries the proof.
    if origin is None or origin == "null":
        return
    allowed = {urlsplit(portal_url).netloc.lower()}
    host = incoming.header("host")
    if host:
        allowed.add(host.lower())
    if urlsplit(origin).netloc.lower() not in allowed:
        raise CrossSiteRequestRejected()


def authenticate(incoming: Incoming, services: Services) -> Principal:
    return services.sessions.resolve(incoming.cookie(COOKIE_NAME), incoming.info())


def _same_token(submitted: str | None, expected: str) -> bool:
    return bool(submitted) and hmac.compare_digest(str(submitted).encode(), expected.encode())


def authenticate_change(incoming: Incoming, services: Services, form: dict[str, str] | None = None) -> Principal:
    """The principal behind a state-changing request, after the CSRF checks."""
    check_same_origin(incoming, services.settings.portal_url)
    principal = authenticate(incoming, services)
    submitted = form.get(CSRF_FIELD) if form is not None else incoming.header(CSRF_HEADER)
    if not _same_token(submitted, principal.csrf_token):
        raise CrossSiteRequestRejected()
    return principal


def anonymous_form_token(incoming: Incoming) -> tuple[str, str | None]:
    """The double-submit token for forms shown before sign-in, and a Set-Cookie when it is new."""
    current = incoming.cookie(FORM_COOKIE)
    if current and looks_like_token(current):
        return current, None
    token = secrets.token_urlsafe(32)
    return token, cookie_header(FORM_COOKIE, token)


def check_anonymous_form(incoming: Incoming, services: Services, form: dict[str, str]) -> None:
    check_same_origin(incoming, services.settings.portal_url)
    cookie = incoming.cookie(FORM_COOKIE)
    if not cookie or not _same_token(form.get(CSRF_FIELD), cookie):
        raise CrossSiteRequestRejected()


# --- a request's body, after the checks it needs ---------------------------------------------


def anonymous_json(incoming: Incoming, services: Services) -> dict[str, Any]:
    """The JSON body of a request made before sign-in (sign-in, links from mail), from our own origin."""
    check_same_origin(incoming, services.settings.portal_url)
    return incoming.json_object(services.settings.max_json_bytes)


def changing_json(incoming: Incoming, services: Services, limit: int | None = None) -> tuple[Principal, dict[str, Any]]:
    """The principal and JSON body of a signed-in state-changing API request (CSRF-checked)."""
    principal = authenticate_change(incoming, services)
    return principal, incoming.json_object(limit or services.settings.max_json_bytes)


def anonymous_form(incoming: Incoming, services: Services) -> dict[str, str]:
    """A form posted before sign-in, with its double-submit token checked."""
    form = incoming.form()
    check_anonymous_form(incoming, services, form)
    return form


def changing_form(incoming: Incoming, services: Services) -> tuple[Principal, dict[str, str]]:
    """The principal and fields of a signed-in form post (CSRF-checked)."""
    form = incoming.form()
    return authenticate_change(incoming, services, form), form
