"""Outgoing mail through SES v2.

Every header of an outgoing mail is built here from parsed values, never copied
from input, and stripped of control characters (encoded words decoded first: ``header_text``),
so no caller can inject a header. Before a mail leaves, its bytes are parsed back and must hold
exactly the headers that were set, each on one line (``check_headers``); else it is not sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clock
from chalicelib.errors import ServiceUnavailable
from chalicelib.templating import render_html, render_text
from chalicelib.text import header_text

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a header's decoded value: one line (tabs may fold)


class MailNotSent(ServiceUnavailable):
    code = "mail_not_sent"
    default_message = "The mail could not be sent. Please try again in a moment."


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
        message["Subject"] = header_text(mail.subject)
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
        try:
            raw = message.as_bytes()
        except Exception as exc:
            # The email package cannot write some part out: the caller falls back (a pickup link).
            log.warning("a mail could not be written out", extra={"error": type(exc).__name__})
            raise MailNotSent() from None
        check_headers(message, raw)
        request: dict[str, Any] = {
            "FromEmailAddress": sender or self.sender,
            "Destination": {"ToAddresses": destinations},
            "Content": {"Raw": {"Data": raw}},
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


def check_headers(message: EmailMessage, raw: bytes) -> None:
    """``raw`` read back as a receiving server would: the same top-level headers, in the same order,
    none holding a line break or control character once decoded. Anything else is not sent
    (fail closed): it would mean a header value wrote a header of its own."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    names = [name.lower() for name in parsed]
    decoded = [str(value) for value in parsed.values()]
    if names != [name.lower() for name in message] or any(_CONTROL.search(value) for value in decoded):
        log.warning("mail refused: its headers do not read back as built", extra={"headers": len(names)})
        raise MailNotSent()
