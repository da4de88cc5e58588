"""How a message reaches its recipients: no notice or invitation carries PHI."""

from __future__ import annotations

from typing import Any

from tests.support import (
    WebClient,
    sent_mail,
)

SECRET_SUBJECT = "Oncology referral for Maria Gonzalez"
SECRET_BODY = "Biopsy confirmed stage II; MRN 004471; call her at home."


def test_no_notification_or_invitation_holds_phi(associate_web: WebClient, start_thread: Any) -> None:
    start_thread(["erin@clinic.example"], subject=SECRET_SUBJECT, text=SECRET_BODY)
    for mail in sent_mail():
        raw = mail.as_string()
        assert SECRET_SUBJECT not in raw and SECRET_BODY not in raw
