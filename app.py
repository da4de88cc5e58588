"""Sealpost: routes and event handlers only. Everything they do lives in ``chalicelib``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Cron, Request, Response, SNSEvent

from chalicelib import clock, logs
from chalicelib.web import (
    api,
    local_mail,
    middleware,
    oversight_pages,
    pages,
    pickup_pages,
    static,
    thread_pages,
    threads_api,
)
from chalicelib.web.incoming import Incoming
from chalicelib.web.routing import escalate
from chalicelib.wiring import services

app = Chalice(app_name="sealpost")
logs.configure()

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


@route("/api/password/forgot", ["POST"])
def api_forgot_password() -> Response:
    return api.forgot_password(incoming())


@route("/api/password/reset", ["POST"])
def api_reset_password() -> Response:
    return api.reset_password(incoming())


@route("/api/pickup/{token}/register", ["POST"])
def api_pickup_register(token: str) -> Response:
    return api.pickup_register(incoming(), token)


@route("/api/pickup/{token}/signin", ["POST"])
def api_pickup_sign_in(token: str) -> Response:
    return api.pickup_sign_in(incoming(), token)


@route("/api/threads/{thread_id}/participants/{username}/pickup-link", ["POST"])
def api_resend_pickup(thread_id: str, username: str) -> Response:
    return api.resend_pickup(incoming(), thread_id, username)


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


@route("/api/threads", ["GET"])
def api_inbox() -> Response:
    return threads_api.inbox(incoming())


@route("/api/threads", ["POST"])
def api_start_thread() -> Response:
    return threads_api.start(incoming())


@route("/api/threads/{thread_id}", ["GET"])
def api_thread(thread_id: str) -> Response:
    return threads_api.show(incoming(), thread_id)


@route("/api/threads/{thread_id}/messages", ["POST"])
def api_reply(thread_id: str) -> Response:
    return threads_api.reply(incoming(), thread_id)


@route("/api/threads/{thread_id}/continuation", ["POST"])
def api_continue_thread(thread_id: str) -> Response:
    return threads_api.continue_thread(incoming(), thread_id)


@route("/api/threads/{thread_id}/remove-from-view", ["POST"])
def api_remove_from_view(thread_id: str) -> Response:
    return threads_api.remove_from_view(incoming(), thread_id)


@route("/api/threads/{thread_id}/messages/{message_id}/attachments/{attachment_id}", ["GET"])
def api_download(thread_id: str, message_id: str, attachment_id: str) -> Response:
    return threads_api.download(incoming(), thread_id, message_id, attachment_id)


@route("/api/uploads", ["POST"])
def api_start_upload() -> Response:
    return threads_api.start_upload(incoming())


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


@route("/accounts", ["GET"])
def accounts_page() -> Response:
    return pages.accounts_page(incoming())


@route("/threads/new", ["GET"])
def new_thread_form() -> Response:
    return thread_pages.new_form(incoming())


@route("/threads", ["POST"])
def send_new_thread() -> Response:
    return thread_pages.send_new(incoming())


@route("/threads/{thread_id}", ["GET"])
def thread_page(thread_id: str) -> Response:
    return thread_pages.show(incoming(), thread_id)


@route("/threads/{thread_id}/reply", ["POST"])
def reply_page(thread_id: str) -> Response:
    return thread_pages.reply(incoming(), thread_id)


@route("/threads/{thread_id}/continue", ["POST"])
def continue_page(thread_id: str) -> Response:
    return thread_pages.continue_thread(incoming(), thread_id)


@route("/threads/{thread_id}/remove", ["POST"])
def remove_page(thread_id: str) -> Response:
    return thread_pages.remove(incoming(), thread_id)


@route("/threads/{thread_id}/messages/{message_id}/attachments/{attachment_id}", ["GET"])
def download_page(thread_id: str, message_id: str, attachment_id: str) -> Response:
    return thread_pages.download(incoming(), thread_id, message_id, attachment_id)


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


@route("/p/{token}", ["GET"])
def pickup_page(token: str) -> Response:
    return pickup_pages.pickup_page(incoming(), token)


@route("/p/{token}", ["POST"])
def pickup_register(token: str) -> Response:
    return pickup_pages.pickup_register(incoming(), token)


@route("/p/{token}/signin", ["POST"])
def pickup_sign_in(token: str) -> Response:
    return pickup_pages.pickup_sign_in(incoming(), token)


@route("/p/{token}/renew", ["POST"])
def pickup_renew(token: str) -> Response:
    return pickup_pages.pickup_renew(incoming(), token)


@route("/threads/{thread_id}/participants/{username}/pickup-link", ["POST"])
def resend_pickup(thread_id: str, username: str) -> Response:
    return pickup_pages.resend_pickup(incoming(), thread_id, username)


@route("/forgot", ["GET"])
def forgot_form() -> Response:
    return pickup_pages.forgot_form(incoming())


@route("/forgot", ["POST"])
def forgot_submit() -> Response:
    return pickup_pages.forgot_submit(incoming())


@route("/reset/{token}", ["GET"])
def reset_form(token: str) -> Response:
    return pickup_pages.reset_form(incoming(), token)


@route("/reset/{token}", ["POST"])
def reset_submit(token: str) -> Response:
    return pickup_pages.reset_submit(incoming(), token)


@route("/uploads/received", ["GET"])
def upload_received() -> Response:
    return thread_pages.upload_received(incoming())


@route("/tls", ["GET"])
def tls_decisions_page() -> Response:
    return oversight_pages.tls_page(incoming())


@route("/domain-filter", ["GET"])
def domain_filter_page() -> Response:
    return oversight_pages.domain_filter_page(incoming())


@route("/static/{name}", ["GET"])
def static_file(name: str) -> Response:
    return static.serve(name)


@route("/local/mail", ["GET"])
def local_mail_page() -> Response:
    return local_mail.page(incoming())


# --- event handlers -----------------------------------------------------------------


# The topics are created by infra/template.yaml; Chalice writes the name into an Fn::Sub, so
# CloudFormation resolves the stack name in it and each stack subscribes to its own topic.
@app.on_sns_message(topic="${AWS::StackName}-inbound", name="route_inbound_mail")
def route_inbound_mail(event: SNSEvent) -> dict[str, Any]:
    """SES stored an associate's outbound secure mail: route every recipient (chalicelib/gateway/router.py)."""
    report = services.current().gateway.handle(event.message)
    return {"outcome": report.outcome, "reason": report.reason}


@app.on_sns_message(topic="${AWS::StackName}-delivery-events", name="handle_delivery_events")
def handle_delivery_events(event: SNSEvent) -> dict[str, Any]:
    """SES delivery events of TLS-required mail: a bounce falls back to a pickup link."""
    return {"done": services.current().delivery_events.handle(event.message)}


@app.lambda_function(name="attachment_download")
def attachment_download(event: dict[str, Any], context: Any) -> None:
    """S3 Object Lambda: decrypts large attachments on their way to a participant."""
    services.current().downloads.object_lambda_get(event)


@app.schedule(Cron(5, "*", "*", "*", "?", "*"), name="write_audit_digests")
def write_audit_digests(event: CloudWatchEvent) -> dict[str, list[str]]:
    """Hourly: sign the digest of every audit period that has ended (chalicelib/audit_digest.py)."""
    return {"written": [signed.key for signed in services.current().audit_digests.write_due(clock.now())]}


# --- everything else: a clear 404 instead of API Gateway's "Missing Authentication Token"


def _not_found(**_: str) -> Response:
    return middleware.not_found(incoming())


for _depth in range(1, 9):
    route("/" + "/".join(f"{{p{i}}}" for i in range(_depth)), ALL_METHODS, name=f"not_found_{_depth}")(_not_found)
