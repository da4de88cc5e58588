"""Builds the services for the current settings (``services.build``/``current``), with AWS clients
made on first use. The one place that knows every package; nothing below it imports it.

May import: core, mail, audit, accounts, mfa, identity, messaging, gateway, oversight.
"""
