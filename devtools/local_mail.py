"""Local mode only: the mail the app has sent, read from the moto server, so mail-driven flows can be
followed by hand: the page ``/local/mail`` (added to the app by ``devtools/local_server.py`` only),
``make mail``, and the tests.

Nothing here ships in the deployed package (``chalice package`` takes ``app.py`` and ``chalicelib``).
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

from chalice.app import Response

from chalicelib.errors import NotFound, ServiceUnavailable
from chalicelib.web.http.incoming import Incoming
from chalicelib.web.http.pages import render
from chalicelib.web.http.routing import Routes
from chalicelib.wiring.services import Services

TEMPLATES = Path(__file__).resolve().parent / "templates"
routes = Routes(__name__)


@dataclass(frozen=True)
class CapturedMail:
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    headers: tuple[tuple[str, str], ...]


def captured_mail(endpoint: str) -> list[CapturedMail]:
    """Every mail moto's SES has accepted, newest first."""
    with urllib.request.urlopen(endpoint.rstrip("/") + "/moto-api/data.json", timeout=5) as reply:  # noqa: S310 - local only
        data = json.load(reply)
    mails = []
    for raw in data.get("ses", {}).get("RawMessage", []):
        parsed = message_from_string(raw.get("raw_data", ""), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain", "html"))
        mails.append(
            CapturedMail(
                message_id=str(raw.get("id", "")),
                sender=str(raw.get("source", "")),
                recipients=tuple(dict.fromkeys(raw.get("destinations", []))),
                subject=str(parsed.get("subject", "")),
                text=body.get_content() if body is not None else "",
                headers=tuple((k, str(v)) for k, v in parsed.items()),
            )
        )
    return list(reversed(mails))


@routes.route("/local/mail", "GET")
def page(incoming: Incoming, services: Services) -> Response:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not services.settings.local_mode or not endpoint:
        raise NotFound("There is no page or API endpoint at this address.")
    try:
        mails = captured_mail(endpoint)
    except OSError:
        raise ServiceUnavailable("The local mail store (moto server) is not reachable.") from None
    return render(incoming, "local_mail.html", services=services, mails=mails, more_folders=(TEMPLATES,))
