"""Secure content by mail over enforced TLS (R7, R10).

Used for outside recipients whose mail server takes verified TLS, and for delivering
partners' portal replies to associates. Sent through the SES configuration set whose
TlsPolicy is REQUIRE: SES never hands it over in the clear, and reports a bounce when
it cannot deliver, which falls back to a pickup link (``delivery_events``). The subject
is tagged ``[Secure]``; every header is rebuilt from parsed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from chalicelib import clock
from chalicelib.limits import MAX_FILENAME, MAX_SUBJECT
from chalicelib.mail.mailer import Mailer, address
from chalicelib.mail.people import Person, display
from chalicelib.settings import Settings
from chalicelib.text import header_text

SECURE_TAG = "[Secure]"


@dataclass(frozen=True)
class FileContent:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class SecureContent:
    subject: str
    text: str
    html: str | None
    attachments: tuple[FileContent, ...] = ()


@dataclass(frozen=True)
class Sent:
    ses_message_id: str
    message_id: str  # our Message-ID header, so that replies can find the thread


def secure_subject(subject: str) -> str:
    clean = header_text(subject, MAX_SUBJECT)
    return clean if clean.lower().startswith(SECURE_TAG.lower()) else f"{SECURE_TAG} {clean}".strip()


@dataclass(frozen=True)
class TlsDelivery:
    settings: Settings
    mailer: Mailer

    def _from(self, sender: Person) -> tuple[str, str, str]:
        """(From address, its display name, Reply-To) for mail written by ``sender``.

        Associates send as themselves (a verified domain). Partners' messages come from
        the plan's no-reply address "via" the plan, and replies go to the gateway, so that
        an associate's answer by mail is secured and joins the thread again.
        """
        if sender.is_associate:
            return sender.email, sender.display_name, sender.email
        name = f"{display(sender)} via {self.settings.plan_name}"
        return self.settings.mail_from, name, self.settings.gateway_address

    def build(
        self,
        sender: Person,
        to: str,
        to_name: str,
        content: SecureContent,
        *,
        reference_code: str,
        in_reply_to: str | None,
    ) -> EmailMessage:
        from_address, from_name, reply_to = self._from(sender)
        message = EmailMessage()
        message["From"] = address(from_address, from_name)
        message["To"] = address(to, to_name)
        message["Reply-To"] = address(reply_to)
        message["Subject"] = secure_subject(content.subject)
        message["Date"] = format_datetime(clock.now())
        message["Message-ID"] = make_msgid(domain=self.settings.mail_from.partition("@")[2])
        if in_reply_to:
            reference = "<" + header_text(in_reply_to, 250).strip("<>") + ">"
            message["In-Reply-To"] = reference
            message["References"] = reference
        message["X-Sealpost-Reference"] = header_text(reference_code, 40)
        message.set_content(content.text or "")
        if content.html:
            message.add_alternative(content.html, subtype="html")
        for file in content.attachments:
            maintype, subtype = _attachable_type(file.content_type)
            message.add_attachment(
                file.data,
                maintype=maintype,
                subtype=subtype,
                filename=header_text(file.filename, MAX_FILENAME) or "attachment",
            )
        return message

    def send(
        self,
        sender: Person,
        to: str,
        to_name: str,
        content: SecureContent,
        *,
        thread_id: str,
        seq: int,
        reference_code: str,
        in_reply_to: str | None = None,
    ) -> Sent:
        """Send over enforced TLS; raises ``MailNotSent`` when SES refuses it."""
        message = self.build(sender, to, to_name, content, reference_code=reference_code, in_reply_to=in_reply_to)
        ses_id = self.mailer.send_message(
            message,
            [to],
            sender=self._from(sender)[0],
            configuration_set=self.settings.tls_configuration_set,
            # Echoed back in bounce and delivery events (SES tags allow only [A-Za-z0-9_-]).
            tags={"thread_id": thread_id, "seq": str(seq)},
        )
        return Sent(ses_message_id=ses_id, message_id=str(message["Message-ID"]))


def _attachable_type(content_type: str) -> tuple[str, str]:
    """The type a file is attached as: its own, except types the email package can only write from
    parsed parts (a bounce's message/delivery-status, a multipart), which go as plain bytes."""
    maintype, _, subtype = content_type.lower().partition("/")
    if not maintype or not subtype or maintype == "multipart":
        return "application", "octet-stream"
    if maintype == "message" and subtype not in ("rfc822", "global"):
        return "application", "octet-stream"
    return maintype, subtype
