"""Responses: JSON, HTML pages, redirects, cookies, and the security headers every answer carries."""

from __future__ import annotations

import contextvars
import json
import re
import secrets
from typing import Any

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import COOKIE_NAME, csrf_token_for
from chalicelib.accounts.signin import SignedIn

_nonce: contextvars.ContextVar[str] = contextvars.ContextVar("csp_nonce", default="")
# Origins a page adds to one CSP directive for its own response (the staging bucket a
# browser uploads to, a logo on another host). Reset with every new nonce.
_extra_sources: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "csp_extra_sources", default=()
)
_EXTENDABLE = ("form-action", "connect-src", "img-src")

HSTS = "max-age=63072000; includeSubDomains"


def new_nonce() -> str:
    """A fresh CSP nonce for the response being built (one per request)."""
    nonce = secrets.token_urlsafe(18)
    _nonce.set(nonce)
    _extra_sources.set(())
    return nonce


def allow_source(directive: str, origin: str) -> None:
    """Let this response's page use ``origin`` for ``directive`` (a scheme://host[:port] origin only)."""
    if directive not in _EXTENDABLE or not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?", origin):
        raise ValueError(f"not an origin for {directive}")
    if (directive, origin) not in _extra_sources.get():
        _extra_sources.set((*_extra_sources.get(), (directive, origin)))


def current_nonce() -> str:
    return _nonce.get() or new_nonce()


def content_security_policy(nonce: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
    def sources(directive: str, *base: str) -> str:
        return " ".join((directive, *base, *(origin for name, origin in extra if name == directive)))

    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}' 'strict-dynamic'",
            f"style-src 'self' 'nonce-{nonce}'",
            sources("img-src", "'self'", "data:"),
            "font-src 'self'",
            sources("connect-src", "'self'"),
            sources("form-action", "'self'"),
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        )
    )


def apply_security_headers(response: Response, *, cacheable: bool = False) -> Response:
    """Add the headers every response carries, errors included. Existing values are kept."""
    headers = response.headers
    defaults = {
        "Content-Security-Policy": content_security_policy(current_nonce(), _extra_sources.get()),
        "Strict-Transport-Security": HSTS,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cache-Control": "public, max-age=3600" if cacheable else "no-store",
    }
    lowered = {name.lower() for name in headers}
    for name, value in defaults.items():
        if name.lower() not in lowered:
            headers[name] = value
    content_type = next((headers[n] for n in headers if n.lower() == "content-type"), None)
    if content_type is None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    elif (
        isinstance(content_type, str)
        and content_type.startswith(("text/", "application/json"))
        and ("charset" not in content_type)
    ):
        for name in list(headers):
            if name.lower() == "content-type":
                headers[name] = content_type + "; charset=utf-8"
    return response


def json_response(body: Any, status: int = 200, headers: dict[str, Any] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def html_response(html: str, status: int = 200, headers: dict[str, Any] | None = None) -> Response:
    return Response(
        body=html,
        status_code=status,
        headers={"Content-Type": "text/html; charset=utf-8", **(headers or {})},
    )


def redirect(location: str, headers: dict[str, Any] | None = None) -> Response:
    """303 See Other to a URL the caller built or checked (``safe_next`` for anything user-supplied)."""
    return Response(body="", status_code=303, headers={"Location": location, **(headers or {})})


def cookie_header(name: str, value: str, *, max_age: int | None = None) -> str:
    """A ``__Host-`` cookie: Secure, HttpOnly, SameSite=Strict, Path=/, no Domain."""
    parts = [f"{name}={value}", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def session_cookie(secret: str) -> str:
    return cookie_header(COOKIE_NAME, secret)


def cleared_session_cookie() -> str:
    return cookie_header(COOKIE_NAME, "", max_age=0)


def with_cookies(response: Response, *cookies: str) -> Response:
    if cookies:
        existing = response.headers.get("Set-Cookie")
        values = existing if isinstance(existing, list) else ([existing] if existing else [])
        response.headers["Set-Cookie"] = [*values, *cookies]
    return response


def me(account: Account, csrf_token: str) -> dict[str, Any]:
    """Who is signed in, as the API tells it (with the CSRF token for the next changes)."""
    return {
        "username": account.username,
        "email": account.email,
        "display_name": account.display_name,
        "role": str(account.role),
        "csrf_token": csrf_token,
    }


def signed_in_json(signed_in: SignedIn, status: int = 200, **extra: Any) -> Response:
    """The API's answer to a sign-in, a registration or a password change: who, and the new session cookie."""
    body = {**me(signed_in.account, csrf_token_for(signed_in.session_secret)), **extra}
    return with_cookies(json_response(body, status), session_cookie(signed_in.session_secret))
