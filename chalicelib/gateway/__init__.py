"""The email gateway's self-contained parts.

- ``mime_intake``: raw MIME from the SES receipt rule into a checked value object, and
  the SES receipt verdict check.
- ``content_scan``: sensitive data (SSN, card numbers, MBI, NPI, dates of birth next to
  names), reported by type and count only.
- ``dns_lookup``, ``tls_probe``, ``mta_sts``, ``tls_decision``: whether a recipient
  domain takes mail over verified TLS, with the reason, cached in DynamoDB.

Nothing here imports Chalice; every network peer (DNS, SMTP, HTTPS) is injectable.
"""
