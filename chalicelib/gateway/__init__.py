"""The email gateway: associates' ordinary mail, handed to the gateway's receiving address,
reaches every recipient securely (R7, R10, R11).

- ``router``: the SES receipt notification in, every recipient routed (TLS or pickup link);
  ``mail_threads``: the mail side of sending (a thread, or a message in the one it answers).
- ``delivery_events``: SES bounces and deliveries of TLS mail (a bounce falls back to pickup).
- ``mime_intake``: raw MIME into a checked value object, and the SES receipt verdicts;
  ``mime_headers``: its parsing policy (headers whose encoded words decode to lone surrogates).
- ``content_scan``: sensitive data (SSN, card numbers, MBI, NPI, dates of birth next to
  names), reported by type and count only; ``attachment_text``: the text of PDF, Office and
  forwarded-mail attachments, and the kinds of content that cannot be read (fail closed).
- ``dns_lookup``, ``tls_probe``, ``mta_sts``, ``tls_decision``: whether a recipient domain
  takes mail over verified TLS, with the reason, cached in DynamoDB.
- ``idempotency``: exactly-once claims for handlers AWS may invoke twice, and the marker a
  retried mail resumes from.

Every network peer (DNS, SMTP, HTTPS) is injectable.

May import: core, mail, audit, accounts, messaging.
"""
