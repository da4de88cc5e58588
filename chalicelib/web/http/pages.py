"""Server-rendered HTML pages (Jinja2, autoescaped, working without JavaScript): the page chrome
every page shares, notices after a redirect, the error page, and forms shown before sign-in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chalice.app import Response

from chalicelib import limits
from chalicelib.accounts.sessions import Principal
from chalicelib.branding import Brand
from chalicelib.errors import SealpostError
from chalicelib.templating import render_html_from
from chalicelib.web.http.guard import CSRF_FIELD, anonymous_form_token
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.responses import allow_source, current_nonce, html_response, redirect, with_cookies
from chalicelib.web.http.status import status_for
from chalicelib.wiring.services import Services

HOME = "/home"

# Notices shown after a redirect: fixed texts chosen by key, never text from the URL.
NOTICES = {
    "signed_out": "You have signed out.",
    "signed_out_everywhere": "You have been signed out on every device.",
    "session_ended": "Your session has ended. Please sign in again.",
    "password_changed": "Your password has been changed. Other sessions have been signed out.",
    "account_created": "The account has been created and the invitation sent.",
    "account_created_no_mail": (
        "The account has been created, but the invitation mail could not be sent. Use "
        "\u201cResend invitation\u201d to try again."
    ),
    "invitation_resent": "A new invitation has been sent.",
    "account_unlocked": "The account has been unlocked.",
    "partner_session_ended": "The session has ended; that browser must sign in again.",
    "browser_signed_out": "That session has ended; that browser must sign in again.",
    "partner_sessions_ended": "Every session of the account has ended; its browsers must sign in again.",
    "second_factor_reset": (
        "The second factor has been reset and every session of that mail address ended. The partner has been "
        "mailed and sets up a new one at the next sign-in."
    ),
    "second_factor_removed": "Your second factor has been removed.",
    "passkey_added": "Your passkey has been added. You can use it the next time you sign in.",
    "passkey_removed": "The passkey has been removed.",
    "account_terminated": "The account has been terminated and its sessions ended.",
    "associate_disabled": "The associate account has been disabled and every session of it ended.",
    "associate_enabled": "The associate account is enabled again: a new registration link has been mailed.",
    "associate_enabled_no_mail": (
        "The associate account is enabled again, but the registration link could not be mailed. Send a new one "
        "with `sealpost-admin invite`."
    ),
    "associate_sessions_ended": "Every session of the associate has ended; its browsers must sign in again.",
    "associate_unlocked": "The associate account has been unlocked.",
    "registered": "Welcome. Your account is ready.",
    "password_reset": "Your new password is saved and every other session was signed out. Please sign in.",
    "password_reset_locked": (
        "Your new password is saved. Your account is still locked: please contact the associate with whom "
        "you regularly conduct business to unlock it."
    ),
    "password_reset_factor_locked": (
        "Your new password is saved, but your account stays locked: it was locked after wrong codes of your "
        "second factor, and a password reset cannot lift that lock. Please contact the associate with whom "
        "you regularly conduct business to unlock it."
    ),
    "link_sent": "A new link has been sent.",
    "removed_from_view": "The thread was removed from your view. The plan keeps its retained copy for audit.",
    "file_uploaded": (
        "The file has been uploaded and is listed with your message below. It is sent when you send the message; "
        "files you uncheck are removed then."
    ),
}

_SAFE_NEXT = re.compile(r"^/(?![/\\])[A-Za-z0-9/_\-.~%?=&]*$")


def safe_next(candidate: str | None) -> str:
    """A local path to go to after sign-in; anything else (other sites, ``//host``, schemes) goes home."""
    if candidate and len(candidate) <= 512 and _SAFE_NEXT.match(candidate):
        return candidate
    return HOME


def _page(
    incoming: Incoming,
    template: str,
    brand: Brand,
    http_status: int,
    more_folders: tuple[Path, ...] = (),
    **context: Any,
) -> Response:
    if brand.logo_origin:
        allow_source("img-src", brand.logo_origin)
    html = render_html_from(
        more_folders,
        f"pages/{template}",
        nonce=current_nonce(),
        brand=brand,
        plan_name=brand.plan_name,
        csrf_field=CSRF_FIELD,
        limits=limits,
        path=incoming.path,
        **context,
    )
    return html_response(html, http_status)


def render(
    incoming: Incoming,
    template: str,
    *,
    services: Services,
    principal: Principal | None = None,
    status: int = 200,
    csrf_token: str | None = None,
    more_folders: tuple[Path, ...] = (),
    **context: Any,
) -> Response:
    """``pages/<template>`` in the page chrome; ``more_folders`` hold pages of local tools."""
    return _page(
        incoming,
        template,
        services.settings.brand,
        status,
        more_folders,
        local_mode=services.settings.local_mode,
        principal=principal,
        csrf_token=csrf_token or (principal.csrf_token if principal else ""),
        notice=NOTICES.get(incoming.query("notice") or ""),
        **context,
    )


def anonymous_page(
    incoming: Incoming, services: Services, template: str, *, status: int = 200, **context: Any
) -> Response:
    """A page with a form shown before sign-in: it carries the double-submit token (and sets its cookie)."""
    token, new_cookie = anonymous_form_token(incoming)
    response = render(incoming, template, services=services, status=status, csrf_token=token, **context)
    return with_cookies(response, *([new_cookie] if new_cookie else []))


def error_page(incoming: Incoming, error: SealpostError, status: int, brand: Brand) -> Response:
    """The HTML answer for an error that reached the edge (no session lookup: it may be what failed)."""
    return _page(
        incoming,
        "error.html",
        brand,
        status,
        local_mode=False,
        principal=None,
        csrf_token="",
        notice=None,
        status=status,
        message=error.public_message,
        request_id=incoming.request_id,
    )


def sign_in_redirect(incoming: Incoming, notice: str | None = None) -> Response:
    target = "/signin?next=" + quote(safe_next(incoming.path), safe="/")
    if notice:
        target += "&notice=" + notice
    return redirect(target)


@dataclass(frozen=True)
class Redisplay:
    """A form shown again after a mistake: the error's status, the error (shown at its field) and
    what the person typed. ``Redisplay()`` is the form's first showing."""

    status: int = 200
    error: SealpostError | None = None
    form: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def after(cls, error: SealpostError, form: Mapping[str, str], *, conflicts: bool = False) -> Redisplay:
        return cls(shown_on_form(error, conflicts=conflicts), error, form)


def shown_on_form(error: SealpostError, *, conflicts: bool = False) -> int:
    """The status to show ``error`` with on its form: for errors about a field (and conflicts, where
    the form allows them). Anything else goes on to the error page: it is raised again."""
    status = status_for(error)
    if error.field is None and not (conflicts and status == 409):
        raise error
    return status
