"""Sign-in through an OpenID provider (OpenID Connect, authorization code flow with PKCE): the
providers and their discovery documents (``providers``), ID-token checks with a hard-coded
algorithm allow-list (``id_tokens``), the single-use state of each sign-in (``transactions``), the
client secrets from Secrets Manager (``client_secrets``), the links from a provider's identity to an
account (``links``, ASVS 6.8.1) and the callback itself (``federation``): associates of the internal
domains through the plan's provider, and outside users with an account already (R1) through a second,
separately configured one.

May import: core, audit, accounts.
"""
