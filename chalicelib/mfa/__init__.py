"""The second factor after the password (ASVS 6.3.3; the proposed HIPAA rule's MFA): what a person
has enrolled, per mail address (``factors``, so in the ``thread`` credential scope one enrolment
covers every thread account of that address), the TOTP seed sealed with the Encryption SDK
(``sealed``), TOTP codes that are usable once (``totp``), ten one-time recovery codes stored as
hashes (``recovery``), and the sign-in step, enrolment and an associate's reset (``second_factor``).
``MfaPolicy`` (settings) says whether it is required, optional or off. Passkeys fit in ``factors``
beside TOTP (a later step).

May import: core, audit, accounts, mail.
"""
