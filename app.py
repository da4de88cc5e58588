"""Sealpost: the composition. The HTTP edge and one blueprint per area of the portal and the API
(each area's routes live next to their handlers in ``chalicelib/web``), and the functions AWS
invokes for mail, delivery events and the audit digests. Everything they do lives in ``chalicelib``.

The streaming download function is not a Chalice function: it runs ``chalicelib/web/download_server``
from the same package, behind a function URL (``AttachmentDownload`` in infra/template.yaml).
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Cron, SNSEvent

from chalicelib import clock, logs
from chalicelib.web import mail_links, oversight_pages, partner_accounts, sessions, static, thread_pages, threads_api
from chalicelib.web.http.middleware import Edge, fallback
from chalicelib.wiring import services

app = Chalice(app_name="sealpost")
logs.configure()

app.register_middleware(Edge(services.current), "http")
for area in (sessions, partner_accounts, threads_api, thread_pages, mail_links, oversight_pages, static):
    app.register_blueprint(area.routes.blueprint(services.current))
# Last: every other address gets a clear 404 instead of API Gateway's "Missing Authentication Token".
app.register_blueprint(fallback.blueprint(services.current))


# --- functions AWS invokes ------------------------------------------------------------------


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


@app.schedule(Cron(5, "*", "*", "*", "?", "*"), name="write_audit_digests")
def write_audit_digests(event: CloudWatchEvent) -> dict[str, list[str]]:
    """Hourly: sign the digest of every audit period that has ended (chalicelib/audit/digest.py)."""
    return {"written": [signed.key for signed in services.current().audit_digests.write_due(clock.now())]}
