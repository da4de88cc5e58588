"""Every templated mail Sealpost sends: invitations, pickup links, notices to associates, password
mails, refusals. One place renders ``templates/mail/<name>.{txt,html}`` and sends through SES.

None of them carries PHI: no subject, no body, no file name; only who wrote, the thread's
reference code and a link to the portal. A notice that cannot be sent is logged by name and
reported as ``False``: what it announces is stored and audited either way, and the portal
shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.mail.mailer import Mailer, MailNotSent, OutgoingMail
from chalicelib.mail.people import Person, display
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

# What ``factors_changed`` tells the holder, by change.
FACTOR_CHANGES = {
    "app_set_up": "An authenticator app was set up as your second factor.",
    "app_replaced": "Your authenticator app was replaced: the codes of the earlier app no longer work.",
    "passkey_added": "A passkey or security key was added to your account.",
    "passkey_removed": "A passkey or security key was removed from your account.",
    "recovery_codes_renewed": "New recovery codes were made: the earlier ones no longer work.",
    "removed": "Your second factor was removed: signing in now needs only your password.",
}


@dataclass(frozen=True)
class Notifier:
    settings: Settings
    mailer: Mailer

    def _send(self, to: str, subject: str, template: str, **context: object) -> bool:
        """Render ``mail/<template>`` (the plan's name is always known to it) and send; False if not sent."""
        mail = OutgoingMail.from_templates(
            to=to, subject=subject, template=template, plan_name=self.settings.plan_name, **context
        )
        try:
            self.mailer.send(mail)
        except MailNotSent:
            log.warning("notice not sent", extra={"template": template})
            return False
        return True

    def _portal(self, path: str) -> str:
        return self.settings.portal_url + path

    def thread_link(self, thread_id: str) -> str:
        return self._portal(f"/signin?next=/threads/{thread_id}")

    def invitation_link(self, secret: str) -> str:
        """The registration page of an invitation (``sealpost-admin --print-link`` shows it instead of mailing)."""
        return self._portal(f"/register/{secret}")

    # --- to outside recipients and new accounts ---------------------------------------------

    def invitation(self, associate: Person, account: Person, secret: str, *, message_waiting: bool = False) -> bool:
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: your secure messaging account",
            template="invitation",
            associate_name=display(associate),
            username=account.username,
            link=self.invitation_link(secret),
            valid_hours=self.settings.invitation_ttl_seconds // 3600,
            message_waiting=message_waiting,
        )

    def pickup(self, recipient: Person, sender: Person, reference_code: str, link: str, *, first_time: bool) -> bool:
        return self._send(
            to=recipient.email,
            subject=f"{self.settings.plan_name}: you have a new secure message ({reference_code})",
            template="pickup",
            sender_name=display(sender),
            reference_code=reference_code,
            link=link,
            valid_hours=self.settings.pickup_ttl_seconds // 3600,
            first_time=first_time,
        )

    def registered(self, account: Person) -> bool:
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: your secure messaging account is ready",
            template="registered",
            username=account.username,
        )

    # --- passwords --------------------------------------------------------------------------

    def password_changed(self, account: Person) -> bool:
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: your password was changed",
            template="password_changed",
            username=account.username,
            support_contact=self.settings.support_contact,
        )

    def second_factor_reset(self, account: Person) -> bool:
        """An associate reset the second factor: the next sign-in sets up a new one."""
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: your second factor was reset",
            template="second_factor_reset",
            username=account.username,
            support_contact=self.settings.support_contact,
        )

    def factors_changed(self, account: Person, change: str) -> bool:
        """The holder's second factor changed (``FACTOR_CHANGES``): if it was not them, they know at once."""
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: your sign-in settings changed",
            template="factors_changed",
            username=account.username,
            change=FACTOR_CHANGES[change],
            support_contact=self.settings.support_contact,
        )

    def reset_link(self, account: Person, secret: str, valid_minutes: int) -> bool:
        return self._send(
            to=account.email,
            subject=f"{self.settings.plan_name}: reset your password",
            template="reset",
            username=account.username,
            link=self._portal(f"/reset/{secret}"),
            valid_minutes=valid_minutes,
        )

    # --- to associates ----------------------------------------------------------------------

    def new_message(self, recipient: Person, sender: Person, reference_code: str, thread_id: str) -> bool:
        """An associate's notice of a message in the portal (outside recipients get pickup links instead)."""
        return self._send(
            to=recipient.email,
            subject=f"Secure message from {display(sender)} ({reference_code})",
            template="associate_notice",
            sender_name=display(sender),
            reference_code=reference_code,
            link=self.thread_link(thread_id),
        )

    def new_link_requested(
        self, associate: Person, recipient: Person, reference_code: str, thread_id: str, reason: str
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

    def strike(self, associate: Person, partner: Person, strikes: int, blocked: int, terminated: bool) -> bool:
        return self._send(
            to=associate.email,
            subject=f"Blocked secure message from {partner.username} (strike {strikes})",
            template="strike",
            partner=f"{display(partner)} ({partner.username})",
            strikes=strikes,
            limit=self.settings.strikes_before_termination,
            blocked_count=blocked,
            terminated=terminated,
        )

    def mail_refused(self, sender_address: str, reason: str) -> bool:
        """The gateway refused an associate's mail (malformed or over the limits): tell them why."""
        return self._send(
            to=sender_address,
            subject=f"{self.settings.plan_name}: your secure mail was not delivered",
            template="mail_refused",
            reason=reason,
        )
