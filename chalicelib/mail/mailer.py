"""Outgoing mail through SES v2.

Every header of an outgoing mail is built here from parsed values, never copied
from input, and stripped of control characters, so no caller can inject a header.
"""

from __future__ import annotations

import logging
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
from chalicelib.text import one_line

log = logging.getLogger(__name__)


class MailNotSent(ServiceUnavailable):
    code = "mail_not_sent"
    default_message = "The mail could not be sent. Please try again in a moment."


def address(addr_spec: str, display_name: str = "") -> Address:
    local, _, domain = addr_spec.partition("@")
    return Address(display_name=one_line(display_name, 100), username=local, domain=domain)


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


@dataclass(frozen=True)
class Mailer:
    sender: str
    sender_name: str
    sesv2_factory: Callable[[], Any]

    def build(self, mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = address(self.sender, self.sender_name)
        message["To"] = address(mail.to, mail.to_name)
        if mail.reply_to:
            message["Reply-To"] = address(mail.reply_to)
        message["Subject"] = one_line(mail.subject)
        message["Date"] = format_datetime(clock.now())
        message["Message-ID"] = make_msgid(domain=self.sender.partition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        return message

    def send(self, mail: OutgoingMail, *, configuration_set: str | None = None) -> str:
        """Send ``mail``; returns the SES message id or raises ``MailNotSent``."""
        return self.send_message(self.build(mail), [mail.to], configuration_set=configuration_set)

    def send_message(
        self,
        message: EmailMessage,
        destinations: list[str],
        *,
        sender: str | None = None,
        configuration_set: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Send a fully built message to ``destinations``; returns the SES message id or raises ``MailNotSent``."""
        request: dict[str, Any] = {
            "FromEmailAddress": sender or self.sender,
            "Destination": {"ToAddresses": destinations},
            "Content": {"Raw": {"Data": message.as_bytes()}},
        }
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        if tags:
            request["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        try:
            response = self.sesv2_factory().send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            log.warning("mail not sent", extra={"error": type(exc).__name__})
            raise MailNotSent() from None
        return str(response["MessageId"])
