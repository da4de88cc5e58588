"""Associates' oversight pages: the TLS decision per recipient domain, and the domain filter's strikes."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.errors import SealpostError
from chalicelib.gateway.tls_decision import TlsDecision
from chalicelib.web.errors import status_for
from chalicelib.web.guard import authenticate
from chalicelib.web.incoming import Incoming
from chalicelib.web.pages import render
from chalicelib.wiring import services as services_module

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


def tls_page(incoming: Incoming) -> Response:
    services = services_module.current()
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
            if problem.field is None:
                raise
            error, status = problem, status_for(problem)
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


def domain_filter_page(incoming: Incoming) -> Response:
    services = services_module.current()
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
