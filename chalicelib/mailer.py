"""Outgoing mail through SES v2.

Every header of an outgoing mail is built here from parsed values, never copied
from input, and stripped of control characters, so no caller can inject a header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clock
from chalicelib.errors import ServiceUnavailable
from chalicelib.templating import render_html, render_text

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MailNotSent(ServiceUnavailable):
    code = "mail_not_sent"
    default_message = "The mail could not be sent. Please try again in a moment."


def header_text(value: str, limit: int = 200) -> str:
    """A header value safe to place in a mail: one line, no control characters, bounded."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def address(addr_spec: str, display_name: str = "") -> Address:
    local, _, domain = addr_spec.partition("@")
    return Address(display_name=header_text(display_name, 100), username=local, domain=domain)


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str | None = None
    to_name: str = ""
    reply_to: str | None = None

    @classmethod
    def from_templates(cls, to: str, subject: str, template: str, **context: object) -> OutgoingMail:
        """Render ``mail/<template>.txt`` and ``mail/<template>.html`` with ``context``."""
        return cls(
            to=to,
            subject=subject,
            text=render_text(f"mail/{template}.txt", **context),
            html=render_html(f"mail/{template}.html", **context),
        )


class Mailer:
    def __init__(self, sender: str, sender_name: str, sesv2_factory: Callable[[], Any]) -> None:
        self._sender = sender
        self._sender_name = sender_name
        self._sesv2_factory = sesv2_factory

    def build(self, mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = address(self._sender, self._sender_name)
        message["To"] = address(mail.to, mail.to_name)
        if mail.reply_to:
            message["Reply-To"] = address(mail.reply_to)
        message["Subject"] = header_text(mail.subject)
        message["Date"] = format_datetime(clock.now())
        message["Message-ID"] = make_msgid(domain=self._sender.partition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        return message

    def send(self, mail: OutgoingMail, *, configuration_set: str | None = None) -> str:
        """Send ``mail``; returns the SES message id or raises ``MailNotSent``."""
        raw = self.build(mail).as_bytes()
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [mail.to]},
            "Content": {"Raw": {"Data": raw}},
        }
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        try:
            response = self._sesv2_factory().send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            log.warning("mail not sent", extra={"error": type(exc).__name__})
            raise MailNotSent() from None
        return str(response["MessageId"])
