"""What the people who oversee the service see besides their threads: the TLS decision per
recipient domain and the domain filter's strikes and recent blocks (``mail_policy``).
Read-only views.

May import: core, audit, accounts, messaging, gateway.
"""
