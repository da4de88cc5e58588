"""Every templated mail goes through one notifier: rendered with the plan's name, in text and HTML,
with links to the portal and never PHI; a mail that cannot be sent is reported, not raised."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.mail.mailer import MailNotSent, OutgoingMail
from chalicelib.mail.notices import Notifier
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV

PLAN = "Health Net Secure Mail"


@dataclass(frozen=True)
class Person:
    username: str
    email: str
    display_name: str = ""
    is_associate: bool = False


ALICE = Person("alice@plan.example", "alice@plan.example", "Alice Associate", True)
BOB = Person("bob-123456", "bob@clinic.example", "Bob Partner")


@dataclass
class RecordingMailer:
    """Keeps what it is given; ``refuse`` makes it fail as SES does."""

    sent: list[OutgoingMail] = field(default_factory=list)
    refuse: bool = False

    def send(self, mail: OutgoingMail, **_: Any) -> str:
        if self.refuse:
            raise MailNotSent()
        self.sent.append(mail)
        return "ses-id"


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def notifier(mailer: RecordingMailer) -> Notifier:
    settings = Settings.from_env({**SETTINGS_ENV, "SEALPOST_PLAN_NAME": PLAN})
    return Notifier(settings, mailer)


def every_notice(notifier: Notifier) -> dict[str, bool]:
    return {
        "invitation": notifier.invitation(ALICE, BOB, "invite-secret", message_waiting=True),
        "pickup": notifier.pickup(BOB, ALICE, "SP-ABCD-EFGH", "https://portal.test/p/pickup-secret", first_time=True),
        "registered": notifier.registered(BOB),
        "password_changed": notifier.password_changed(BOB),
        "reset": notifier.reset_link(BOB, "reset-secret", 10),
        "associate_notice": notifier.new_message(ALICE, BOB, "SP-ABCD-EFGH", "0" * 32),
        "new_link_requested": notifier.new_link_requested(ALICE, BOB, "SP-ABCD-EFGH", "0" * 32, "expired"),
        "strike": notifier.strike(ALICE, BOB, 2, 1, False),
        "mail_refused": notifier.mail_refused("alice@plan.example", "The message is too large."),
    }


def test_every_notice_is_rendered_in_text_and_html_with_the_plans_name(
    notifier: Notifier, mailer: RecordingMailer
) -> None:
    assert all(every_notice(notifier).values())
    assert len(mailer.sent) == 9
    for mail in mailer.sent:
        assert PLAN in mail.text and mail.html is not None and PLAN in mail.html, mail.subject
        assert "{{" not in mail.text and "{%" not in mail.text


def test_links_in_notices_point_at_the_portal(notifier: Notifier, mailer: RecordingMailer) -> None:
    every_notice(notifier)
    by_recipient_subject = {mail.subject: mail.text for mail in mailer.sent}
    texts = "\n".join(by_recipient_subject.values())
    assert "https://portal.test/register/invite-secret" in texts
    assert "https://portal.test/reset/reset-secret" in texts
    assert "https://portal.test/signin?next=/threads/" + "0" * 32 in texts


def test_a_notice_that_cannot_be_sent_is_reported_and_logged_by_its_template_only(
    notifier: Notifier, mailer: RecordingMailer, caplog: pytest.LogCaptureFixture
) -> None:
    mailer.refuse = True
    with caplog.at_level(logging.WARNING):
        answers = every_notice(notifier)
    assert not any(answers.values())
    logged = [r for r in caplog.records if r.name == "chalicelib.mail.notices"]
    assert {getattr(r, "template", None) for r in logged} == set(answers)
    for record in logged:
        line = record.getMessage() + repr(record.__dict__)
        assert "bob@clinic.example" not in line and "secret" not in line
