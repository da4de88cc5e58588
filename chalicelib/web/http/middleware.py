"""The edge every request passes: a fresh CSP nonce, errors turned into answers, security headers,
and a clear 404 for every address no area serves.

No traceback, exception message or request content leaves the server or reaches the
logs: unexpected failures are logged by type and request id only.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from chalice.app import Request, Response

from chalicelib import logs
from chalicelib.branding import NEUTRAL, Brand
from chalicelib.errors import (
    AuthenticationRequired,
    InvalidCredentials,
    ManyProblems,
    NotFound,
    SealpostError,
    ServiceUnavailable,
    SessionExpired,
)
from chalicelib.web.http.incoming import Incoming, set_current_request
from chalicelib.web.http.pages import error_page, sign_in_redirect
from chalicelib.web.http.responses import apply_security_headers, json_response, new_nonce
from chalicelib.web.http.routing import Escalated, Routes, ServicesProvider
from chalicelib.web.http.status import retry_after, status_for
from chalicelib.wiring.services import Services

# Not under "sealpost": Chalice sets the app's own logger to ERROR (unless debug) and stops it
# propagating, so a child of it would drop every warning of the edge.
log = logging.getLogger(__name__)

_CACHEABLE_PREFIX = "/static/"


def error_body(error: SealpostError, request_id: str) -> dict[str, object]:
    return {
        "error": error.code,
        "message": error.public_message,
        "field": error.field,
        "warning": error.warning if isinstance(error, InvalidCredentials) else None,
        "request_id": request_id,
        **(
            {"problems": [{"field": p.field, "message": p.public_message} for p in error.problems]}
            if isinstance(error, ManyProblems)
            else {}
        ),
    }


def error_response(incoming: Incoming, error: SealpostError, brand: Callable[[], Brand]) -> Response:
    status = status_for(error)
    if not incoming.wants_json:
        if isinstance(error, AuthenticationRequired) and incoming.method == "GET":
            return sign_in_redirect(incoming, "session_ended" if isinstance(error, SessionExpired) else None)
        response = error_page(incoming, error, status, brand())
    else:
        response = json_response(error_body(error, incoming.request_id), status)
    seconds = retry_after(error)
    if seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


class _ChaliceError(SealpostError):
    """An error answer that Chalice produced itself (405 and the like), in our shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_CHALICE_MESSAGES = {
    405: ("method_not_allowed", "This method is not allowed here."),
    415: ("unsupported_media_type", "This content type is not accepted here."),
}


def _where(exc: Exception) -> str:
    """File, line and function of our own frames (no values, no message: they could hold PHI)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename]
    return " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))


@dataclass(frozen=True)
class Edge:
    """The HTTP middleware of the app: ``app.register_middleware(Edge(services), "http")``."""

    services: ServicesProvider

    def __call__(self, event: Request, get_response: Callable[[Request], Response]) -> Response:
        incoming = Incoming.of(event)
        set_current_request(incoming)
        new_nonce()
        with logs.bound(request_id=incoming.request_id):  # every line of the request carries its id
            try:
                response = self._reshape_chalice_error(incoming, get_response(event))
            except Escalated as escalated:
                response = self.answer_for(incoming, escalated.original)
            except Exception as exc:
                response = self.answer_for(incoming, exc)
        cacheable = response.status_code == 200 and incoming.path.startswith(_CACHEABLE_PREFIX)
        return apply_security_headers(response, cacheable=cacheable)

    def _brand(self) -> Brand:
        try:
            return self.services().settings.brand
        except SealpostError:  # the settings themselves may be what failed
            return NEUTRAL

    def answer_for(self, incoming: Incoming, exc: Exception) -> Response:
        if isinstance(exc, SealpostError):
            if isinstance(exc, ServiceUnavailable):
                log.warning(
                    "unavailable",
                    extra={
                        "code": exc.code,
                        "error": type(exc).__name__,
                        "status": status_for(exc),
                        "request_id": incoming.request_id,
                    },
                )
            return error_response(incoming, exc, self._brand)
        # The last line of defence: logged by type and place only, no traceback leaves the server.
        log.error(
            "unhandled %s at %s (request %s)",
            type(exc).__name__,
            _where(exc),
            incoming.request_id,
            extra={"error": type(exc).__name__, "status": 500},
        )
        response = error_response(
            incoming, SealpostError("Something went wrong on our side. Please try again."), self._brand
        )
        response.status_code = 500
        return response

    def _reshape_chalice_error(self, incoming: Incoming, response: Response) -> Response:
        if response.status_code not in _CHALICE_MESSAGES:
            return response
        body = response.body
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                return response
        if not (isinstance(body, dict) and "Code" in body):
            return response
        code, message = _CHALICE_MESSAGES[response.status_code]
        reshaped = error_response(incoming, _ChaliceError(code, message), self._brand)
        reshaped.status_code = response.status_code
        if "Allow" in response.headers:
            reshaped.headers["Allow"] = response.headers["Allow"]
        return reshaped


# --- everything else: a clear 404 instead of API Gateway's "Missing Authentication Token" ---

fallback = Routes(__name__, area="fallback")
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def not_found(incoming: Incoming, services: Services, **_: str) -> Response:
    raise NotFound("There is no page or API endpoint at this address.")


for _depth in range(1, 9):
    fallback.route("/" + "/".join(f"{{p{i}}}" for i in range(_depth)), *ALL_METHODS, name=f"not_found_{_depth}")(
        not_found
    )
