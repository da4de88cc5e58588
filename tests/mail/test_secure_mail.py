"""Secure content by mail: TLS-required configuration set, [Secure] subject, rebuilt headers."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.model import Account, Role, Status
from chalicelib.mail.mailer import Mailer
from chalicelib.mail.secure_mail import FileContent, SecureContent, TlsDelivery, secure_subject
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV


class RecordingSes:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, str]:
        self.requests.append(request)
        return {"MessageId": "ses-1"}


def settings() -> Settings:

    return Settings.from_env(SETTINGS_ENV)


ALICE = Account(
    "alice@plan.example", "alice@plan.example", Role.ASSOCIATE, Status.ACTIVE, display_name="Alice\r\nBcc: x@y"
)


def test_the_subject_is_tagged_secure_once() -> None:
    assert secure_subject("Claim 7") == "[Secure] Claim 7"
    assert secure_subject("[secure] Claim 7") == "[secure] Claim 7"
    assert secure_subject("Claim\r\nBcc: thief@evil.test") == "[Secure] Claim Bcc: thief@evil.test"


def test_mail_goes_through_the_tls_configuration_set_with_thread_tags() -> None:
    ses = RecordingSes()
    delivery = TlsDelivery(settings(), Mailer("no-reply@plan.example", "Plan", lambda: ses))
    content = SecureContent("Results", "See attached.", None, (FileContent("lab.pdf", "application/pdf", b"%PDF"),))
    sent = delivery.send(ALICE, "bob@good.test", "Bob", content, thread_id="t" * 32, seq=3, reference_code="SP-1")
    (request,) = ses.requests
    assert request["ConfigurationSetName"] == "tls"
    assert request["Destination"] == {"ToAddresses": ["bob@good.test"]}
    assert request["EmailTags"] == [{"Name": "thread_id", "Value": "t" * 32}, {"Name": "seq", "Value": "3"}]
    assert sent.ses_message_id == "ses-1" and sent.message_id.startswith("<")


def test_headers_are_rebuilt_so_nothing_can_be_injected() -> None:
    delivery = TlsDelivery(settings(), Mailer("no-reply@plan.example", "Plan", lambda: RecordingSes()))
    message = delivery.build(
        ALICE,
        "bob@good.test",
        "Bob\nCc: c@d",
        SecureContent("s\r\nX-Evil: 1", "t", None),
        reference_code="SP-1\r\nX: y",
        in_reply_to=None,
    )
    raw = message.as_string()
    assert "\nBcc:" not in raw and "\nCc:" not in raw and "\nX-Evil:" not in raw and "\nX: y" not in raw


def test_a_bounce_report_or_multipart_file_is_attached_as_plain_bytes_the_email_package_can_write() -> None:
    from email import message_from_bytes, policy

    ses = RecordingSes()
    delivery = TlsDelivery(settings(), Mailer("no-reply@plan.example", "Plan", lambda: ses))
    report = b"Reporting-MTA: dns; mx.good.test\r\n\r\nFinal-Recipient: rfc822; bob@good.test\r\nAction: failed\r\n"
    files = (
        FileContent("status.txt", "message/delivery-status", report),
        FileContent("parts.bin", "multipart/mixed", b"--x--"),
        FileContent("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
    )
    delivery.send(
        ALICE,
        "bob@good.test",
        "Bob",
        SecureContent("Bounce", "t", None, files),
        thread_id="t" * 32,
        seq=1,
        reference_code="SP-1",
    )
    (request,) = ses.requests
    sent = message_from_bytes(request["Content"]["Raw"]["Data"], policy=policy.default)
    attached = {a.get_filename(): (a.get_content_type(), a.get_payload(decode=True)) for a in sent.iter_attachments()}
    assert attached["status.txt"] == ("application/octet-stream", report)
    assert attached["parts.bin"] == ("application/octet-stream", b"--x--")
    assert attached["invite.ics"][0] == "text/calendar"
