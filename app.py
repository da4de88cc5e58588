"""Sealpost: routes and event handlers only. Everything they do lives in ``chalicelib``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Cron, Request, Response

from chalicelib import clock, services
from chalicelib.web import api, local_mail, middleware, pages, static
from chalicelib.web.incoming import Incoming
from chalicelib.web.routing import escalate

app = Chalice(app_name="sealpost")

# Bodies are checked by our own parser (clear 415/413/400), so Chalice accepts any type.
ANY = ["*/*"]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def incoming() -> Incoming:
    return middleware.current()


def route(path: str, methods: list[str], **options: Any) -> Callable[[Callable[..., Response]], Any]:
    """``app.route`` whose view errors reach the middleware (see chalicelib/web/routing.py)."""

    def register(view: Callable[..., Response]) -> Any:
        return app.route(path, methods=methods, content_types=ANY, **options)(escalate(view))

    return register


@app.middleware("http")
def edge(event: Request, get_response: Any) -> Response:
    return middleware.handle(Incoming.of(event), get_response)


# --- JSON API -----------------------------------------------------------------------


@route("/api/session", ["POST"])
def api_sign_in() -> Response:
    return api.sign_in(incoming())


@route("/api/session", ["GET"])
def api_current_session() -> Response:
    return api.current_session(incoming())


@route("/api/session", ["DELETE"])
def api_sign_out() -> Response:
    return api.sign_out(incoming())


@route("/api/session/revoke-all", ["POST"])
def api_sign_out_everywhere() -> Response:
    return api.sign_out_everywhere(incoming())


@route("/api/password", ["POST"])
def api_change_password() -> Response:
    return api.change_password(incoming())


@route("/api/register", ["POST"])
def api_register() -> Response:
    return api.register(incoming())


@route("/api/accounts", ["GET"])
def api_list_accounts() -> Response:
    return api.list_accounts(incoming())


@route("/api/accounts", ["POST"])
def api_create_account() -> Response:
    return api.create_account(incoming())


@route("/api/accounts/{username}/unlock", ["POST"])
def api_unlock_account(username: str) -> Response:
    return api.account_action(incoming(), username, "unlock")


@route("/api/accounts/{username}/terminate", ["POST"])
def api_terminate_account(username: str) -> Response:
    return api.account_action(incoming(), username, "terminate")


@route("/api/accounts/{username}/invitation", ["POST"])
def api_resend_invitation(username: str) -> Response:
    return api.account_action(incoming(), username, "invitation")


# --- pages --------------------------------------------------------------------------


@route("/", ["GET"])
def index() -> Response:
    return pages.index(incoming())


@route("/signin", ["GET"])
def sign_in_form() -> Response:
    return pages.sign_in_form(incoming())


@route("/signin", ["POST"])
def sign_in_submit() -> Response:
    return pages.sign_in_submit(incoming())


@route("/signout", ["POST"])
def sign_out() -> Response:
    return pages.sign_out(incoming())


@route("/home", ["GET"])
def home() -> Response:
    return pages.home(incoming())


@route("/account", ["GET"])
def account_settings() -> Response:
    return pages.account_settings(incoming())


@route("/account/password", ["POST"])
def change_password() -> Response:
    return pages.change_password(incoming())


@route("/account/sign-out-everywhere", ["POST"])
def sign_out_everywhere() -> Response:
    return pages.sign_out_everywhere(incoming())


@route("/accounts", ["POST"])
def create_account() -> Response:
    return pages.create_account(incoming())


@route("/accounts/{username}/unlock", ["POST"])
def unlock_account(username: str) -> Response:
    return pages.account_action(incoming(), username, "unlock")


@route("/accounts/{username}/terminate", ["POST"])
def terminate_account(username: str) -> Response:
    return pages.account_action(incoming(), username, "terminate")


@route("/accounts/{username}/invitation", ["POST"])
def resend_invitation(username: str) -> Response:
    return pages.account_action(incoming(), username, "invitation")


@route("/register/{token}", ["GET"])
def register_form(token: str) -> Response:
    return pages.register_form(incoming(), token)


@route("/register/{token}", ["POST"])
def register_submit(token: str) -> Response:
    return pages.register_submit(incoming(), token)


@route("/static/{name}", ["GET"])
def static_file(name: str) -> Response:
    return static.serve(name)


@route("/local/mail", ["GET"])
def local_mail_page() -> Response:
    return local_mail.page(incoming())


# --- scheduled -----------------------------------------------------------------------


@app.schedule(Cron(5, "*", "*", "*", "?", "*"), name="write_audit_digests")
def write_audit_digests(event: CloudWatchEvent) -> dict[str, list[str]]:
    """Hourly: sign the digest of every audit period that has ended (chalicelib/audit_digest.py)."""
    return {"written": [signed.key for signed in services.current().audit_digests.write_due(clock.now())]}


# --- everything else: a clear 404 instead of API Gateway's "Missing Authentication Token"


def _not_found(**_: str) -> Response:
    return middleware.not_found(incoming())


for _depth in range(1, 9):
    route("/" + "/".join(f"{{p{i}}}" for i in range(_depth)), ALL_METHODS, name=f"not_found_{_depth}")(_not_found)
