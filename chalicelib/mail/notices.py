"""Notification mails. They never carry PHI: no subject, no body, no file name; only who
wrote, the thread's reference code and a link to the portal."""

from __future__ import annotations

import logging

from chalicelib.accounts.model import Account
from chalicelib.mail.mailer import Mailer, MailNotSent, OutgoingMail
from chalicelib.settings import Settings

log = logging.getLogger(__name__)


def display(account: Account) -> str:
    return account.display_name or account.email


class Notifier:
    def __init__(self, settings: Settings, mailer: Mailer) -> None:
        self._settings = settings
        self._mailer = mailer

    def _send(self, to: str, subject: str, template: str, **context: object) -> bool:
        """Render ``mail/<template>`` (the plan's name is always known to it) and send; False if not sent."""
        mail = OutgoingMail.from_templates(
            to=to, subject=subject, template=template, plan_name=self._settings.plan_name, **context
        )
        try:
            self._mailer.send(mail)
        except MailNotSent:
            # The message itself is stored and audited; the portal shows it either way.
            log.warning("notification not sent")
            return False
        return True

    def thread_link(self, thread_id: str) -> str:
        return f"{self._settings.portal_url}/signin?next=/threads/{thread_id}"

    def new_message(self, recipient: Account, sender: Account, reference_code: str, thread_id: str) -> bool:
        """An associate's notice of a message in the portal (outside recipients get pickup links instead)."""
        return self._send(
            to=recipient.email,
            subject=f"Secure message from {display(sender)} ({reference_code})",
            template="associate_notice",
            sender_name=display(sender),
            reference_code=reference_code,
            link=self.thread_link(thread_id),
        )

    def pickup(self, recipient: Account, sender: Account, reference_code: str, link: str, *, first_time: bool) -> bool:
        return self._send(
            to=recipient.email,
            subject=f"{self._settings.plan_name}: you have a new secure message ({reference_code})",
            template="pickup",
            sender_name=display(sender),
            reference_code=reference_code,
            link=link,
            valid_hours=self._settings.pickup_ttl_seconds // 3600,
            first_time=first_time,
        )

    def registered(self, account: Account) -> bool:
        return self._send(
            to=account.email,
            subject=f"{self._settings.plan_name}: your secure messaging account is ready",
            template="registered",
            username=account.username,
        )

    def new_link_requested(
        self, associate: Account, recipient: Account, reference_code: str, thread_id: str, reason: str
    ) -> bool:
        return self._send(
            to=associate.email,
            subject=f"New secure link requested ({reference_code})",
            template="new_link_requested",
            recipient=f"{display(recipient)} ({recipient.username})",
            reference_code=reference_code,
            reason=reason,
            link=self.thread_link(thread_id),
        )

    def strike(self, associate: Account, partner: Account, strikes: int, blocked: int, terminated: bool) -> bool:
        return self._send(
            to=associate.email,
            subject=f"Blocked secure message from {partner.username} (strike {strikes})",
            template="strike",
            partner=f"{display(partner)} ({partner.username})",
            strikes=strikes,
            limit=self._settings.strikes_before_termination,
            blocked_count=blocked,
            terminated=terminated,
        )
