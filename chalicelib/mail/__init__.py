"""Mail Sealpost sends through SES v2: the mailer (headers rebuilt from parsed values), every
templated notice (``notices.Notifier``: invitations, pickup links, notices, password mails,
refusals; never PHI), and secure content over enforced TLS (``secure_mail``, R7, R10).
People are described by a protocol (``people.Person``), so mail never depends on accounts.

May import: core.
"""
