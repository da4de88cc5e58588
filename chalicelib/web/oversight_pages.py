"""Associates' oversight pages: the TLS decision per recipient domain, and the domain filter's strikes."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.errors import SealpostError
from chalicelib.gateway.tls_decision import TlsDecision
from chalicelib.web.http.guard import authenticate
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import render, shown_on_form
from chalicelib.web.http.routing import Routes
from chalicelib.wiring.services import Services

routes = Routes(__name__)

VERDICT_LABELS = {
    "tls_verified": ("TLS, verified", "good"),
    "tls_unverified": ("TLS, not verified", "warn"),
    "no_tls": ("No TLS: pickup link", "bad"),
}


REASON_LABELS = {
    "mta_sts_enforced": "MTA-STS enforced",
    "certificate_verified": "Certificate verified",
    "certificate_not_verified": "Certificate not verified",
    "not_all_servers_answered": "Not all mail servers answered",
    "mta_sts_violation": "MTA-STS policy not met",
    "no_starttls": "No STARTTLS",
    "starttls_failed": "STARTTLS failed",
    "unreachable": "Mail servers unreachable",
    "no_mail_server": "Takes no mail",
    "no_such_domain": "No such domain",
    "dns_error": "DNS look-up failed",
    "invalid_domain": "Not a mail domain",
}


@routes.route("/tls", "GET")
def tls_page(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    decisions = services.oversight.tls_decisions(principal, incoming.info())
    asked = incoming.query("domain")
    looked_up: TlsDecision | None = None
    error: SealpostError | None = None
    status = 200
    if asked is not None:
        try:
            looked_up = services.oversight.tls_decision(principal, asked, incoming.info())
        except SealpostError as problem:
            error, status = problem, shown_on_form(problem)
    return render(
        incoming,
        "tls.html",
        services=services,
        principal=principal,
        status=status,
        decisions=decisions,
        asked=(asked or "")[:254],
        looked_up=looked_up,
        error=error,
        verdicts=VERDICT_LABELS,
        reasons=REASON_LABELS,
        ttl_hours=services.settings.tls_cache_seconds // 3600,
    )


@routes.route("/domain-filter", "GET")
def domain_filter_page(incoming: Incoming, services: Services) -> Response:
    principal = authenticate(incoming, services)
    overview = services.oversight.domain_filter(principal, incoming.info())
    return render(
        incoming,
        "domain_filter.html",
        services=services,
        principal=principal,
        overview=overview,
        internal_domains=services.settings.internal_domains,
    )
