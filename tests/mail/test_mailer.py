"""chalicelib/mail/mailer.py: whatever the subject, names and addresses hold, an outgoing mail reads
back with exactly the headers Sealpost set, each on one line, on any Python patch release."""

from __future__ import annotations

import base64
from email import policy, quoprimime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from chalicelib.accounts.model import Account, Role, Status
from chalicelib.mail.mailer import Mailer, MailNotSent, OutgoingMail, check_headers
from chalicelib.mail.secure_mail import SecureContent, TlsDelivery
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV


def _b(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


INJECTION = "x\r\nBcc: thief@evil.example\r\nReply-To: thief@evil.example\r\n\r\n<h1>fake</h1>"
HOSTILE = [
    INJECTION,
    "a\rBcc: thief@evil.example",  # a bare CR
    "a\nBcc: thief@evil.example",
    "a\u2028Bcc: thief@evil.example\x00\x85",
    _b(INJECTION),  # what a partner's subject can hold
    quoprimime.header_encode(INJECTION.encode(), charset="utf-8"),
    _b(_b(_b(INJECTION))),
    "Results " + _b("\r\nBcc: thief@evil.example") + " " + _b("\nCc: x@evil.example"),
]


class RecordingSes:
    def __init__(self) -> None:
        self.raw: list[bytes] = []

    def send_email(self, **request: Any) -> dict[str, str]:
        self.raw.append(request["Content"]["Raw"]["Data"])
        return {"MessageId": "ses-1"}


def _read_back(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _assert_only_the_headers_set(raw: bytes, expected: set[str]) -> None:
    parsed = _read_back(raw)
    assert {name.lower() for name in parsed} == expected, parsed.keys()
    for name, value in parsed.items():
        assert not any(c in str(value) for c in "\r\n\x00"), (name, str(value))
    assert "thief@evil.example" not in {a.addr_spec for a in parsed["To"].addresses}
    assert parsed.get_all("Reply-To") is None or len(parsed.get_all("Reply-To")) == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_notice_built_from_hostile_values_reads_back_with_only_its_headers(hostile: str) -> None:
    ses = RecordingSes()
    mailer = Mailer("no-reply@plan.example", hostile, lambda: ses)
    mailer.send(OutgoingMail(to="bo@clinic.example", subject=hostile, text="t", html="<p>t</p>", to_name=hostile))
    (raw,) = ses.raw
    expected = {"from", "to", "subject", "date", "message-id", "auto-submitted", "content-type", "mime-version"}
    _assert_only_the_headers_set(raw, expected)
    assert "<h1>fake</h1>" not in _read_back(raw).get_body(("html",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_secure_mail_built_from_hostile_values_reads_back_with_only_its_headers(hostile: str) -> None:
    ses = RecordingSes()
    delivery = TlsDelivery(Settings.from_env(SETTINGS_ENV), Mailer("no-reply@plan.example", "Plan", lambda: ses))
    partner = Account("pat-123456", "pat@clinic.example", Role.PARTNER, Status.ACTIVE, display_name=hostile)
    content = SecureContent(hostile, "text", None)
    delivery.send(partner, "alice@plan.example", hostile, content, thread_id="t" * 32, seq=1, reference_code=hostile)
    (raw,) = ses.raw
    expected = {"from", "to", "reply-to", "subject", "date", "message-id", "x-sealpost-reference"}
    _assert_only_the_headers_set(raw, expected | {"content-type", "content-transfer-encoding", "mime-version"})
    assert str(_read_back(raw)["Subject"]).strip().startswith("[Secure] ")


def test_a_mail_whose_bytes_read_back_with_another_header_is_not_sent() -> None:
    message = EmailMessage()
    message["To"] = "bo@clinic.example"
    message["Subject"] = "Results"
    message.set_content("t")
    smuggled = message.as_bytes().replace(b"Subject: Results", b"Subject: Results\r\nBcc: thief@evil.example")
    with pytest.raises(MailNotSent):
        check_headers(message, smuggled)
    check_headers(message, message.as_bytes())  # the honest bytes pass


def test_a_mail_the_email_package_cannot_write_out_is_not_sent_and_says_so() -> None:
    from email.message import EmailMessage

    import pytest

    from chalicelib.mail.mailer import Mailer, MailNotSent

    class Unwritable(EmailMessage):
        def as_bytes(self, *args: object, **kwargs: object) -> bytes:
            raise AttributeError("'str' object has no attribute 'policy'")

    sent: list[object] = []
    message = Unwritable()
    message["To"] = "bob@good.test"
    with pytest.raises(MailNotSent):
        Mailer("no-reply@plan.example", "Plan", lambda: sent).send_message(message, ["bob@good.test"])
    assert sent == []
