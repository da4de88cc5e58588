"""Who can sign in and how: accounts (``model``) and their table (``store``), argon2id passwords
(``passwords``), sign-in with the three-strike lockout (``signin``, R3), sessions, single-use
link tokens (``tokens``), choosing and changing passwords (``credentials``), forgot password
(``password_reset`` queues a request, ``reset_mailer`` answers it, R9), what associates do
to partner accounts (``admin``, R1), and what administrators do to associate accounts
(``associates``, through the operator's ``directory``).

May import: core, mail, audit.
"""
