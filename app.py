"""Sealpost: the composition. The HTTP edge and one blueprint per area of the portal and the API
(each area's routes live next to their handlers in ``chalicelib/web``), and the functions AWS
invokes for mail, delivery events, forgot-password mail and the audit digests. Everything they do
lives in ``chalicelib``.

The streaming download function is not a Chalice function: it runs ``chalicelib/web/download_server``
from the same package, behind a function URL (``AttachmentDownload`` in infra/template.yaml).
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Cron, SQSEvent

from chalicelib import clock, logs, metrics
from chalicelib.invocation import Deadline, handle_batch
from chalicelib.web import (
    associate_accounts,
    federation,
    mail_links,
    oversight_pages,
    partner_accounts,
    second_factor,
    second_factor_api,
    sessions,
    static,
    thread_pages,
    threads_api,
)
from chalicelib.web.http.middleware import Edge, fallback
from chalicelib.wiring import services

app = Chalice(app_name="sealpost")
logs.configure()

app.register_middleware(Edge(services.current), "http")
for area in (
    sessions,
    second_factor,
    second_factor_api,
    federation,
    partner_accounts,
    associate_accounts,
    threads_api,
    thread_pages,
    mail_links,
    oversight_pages,
    static,
):
    app.register_blueprint(area.routes.blueprint(services.current))
# Last: every other address gets a clear 404 instead of API Gateway's "Missing Authentication Token".
app.register_blueprint(fallback.blueprint(services.current))


# --- functions AWS invokes ------------------------------------------------------------------


# SES notifies the topics (infra/template.yaml); each topic feeds a queue with a dead-letter queue,
# so a failed run is received again and nothing that failed disappears. Chalice writes the queue
# name into an Fn::Sub, so each stack reads its own queues. One record per invocation: a mail may
# take minutes, and the visibility timeout is six times the function's timeout.
@app.on_sqs_message(queue="${AWS::StackName}-inbound-mail", batch_size=1, name="route_inbound_mail")
def route_inbound_mail(event: SQSEvent) -> dict[str, Any]:
    """SES stored an associate's outbound secure mail: route every recipient (chalicelib/gateway/router.py)."""
    gateway = services.current().gateway
    deadline = Deadline.of(event.context)
    route = logs.with_ses_message_id(lambda message: gateway.handle(message, deadline).as_dict())
    return handle_batch(event.to_dict()["Records"], route)


@app.on_sqs_message(queue="${AWS::StackName}-delivery-events", batch_size=10, name="handle_delivery_events")
def handle_delivery_events(event: SQSEvent) -> dict[str, Any]:
    """SES delivery events of TLS-required mail: a bounce falls back to a pickup link."""
    events = services.current().delivery_events
    deadline = Deadline.of(event.context)
    handle = logs.with_ses_message_id(lambda message: {"done": events.handle(message, deadline)})
    return handle_batch(event.to_dict()["Records"], handle)


# The API only queues a forgot-password request (the same calls whether or not an account matches);
# this function matches it and mails the link (chalicelib/accounts/reset_mailer.py).
@app.on_sqs_message(queue="${AWS::StackName}-account-mail", batch_size=10, name="send_account_mail")
def send_account_mail(event: SQSEvent) -> dict[str, Any]:
    """Forgot-password requests: the reset link to each matching account, once per request."""
    mailer = services.current().reset_mailer
    deadline = Deadline.of(event.context)
    return handle_batch(event.to_dict()["Records"], lambda body: mailer.handle(body, deadline))


@app.schedule(Cron(5, "*", "*", "*", "?", "*"), name="write_audit_digests")
def write_audit_digests(event: CloudWatchEvent) -> dict[str, list[str]]:
    """Hourly: sign the digest of every audit period that has ended (chalicelib/audit/digest.py)."""
    with metrics.counting_failure("DigestRunFailed"):  # the alarm's signal; the run still fails
        return {"written": [signed.key for signed in services.current().audit_digests.write_due(clock.now())]}
