"""Deployment settings, read from environment variables each time they are asked for.

Resource names come from the CloudFormation template (see ``infra/template.yaml``,
``Globals.Function.Environment``); policies come from ``.chalice/config.json``.
Nothing here touches AWS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib import branding
from chalicelib.audit.layout import PERIOD_MINUTES
from chalicelib.errors import ConfigurationError

CredentialScope = Literal["recipient", "thread"]

PREFIX = "SEALPOST_"


@dataclass(frozen=True)
class Settings:
    deployment: str
    region: str
    accounts_table: str
    sessions_table: str
    tokens_table: str
    gateway_table: str
    audit_bucket: str
    threads_table: str
    messages_bucket: str
    staging_bucket: str
    download_access_point_arn: str
    inbound_bucket: str
    gateway_address: str
    tls_configuration_set: str
    kms_key_arn: str
    mail_from: str
    portal_url: str
    internal_domains: tuple[str, ...]
    lockout_threshold: int = 3
    max_interactions: int = 12
    credential_scope: CredentialScope = "recipient"
    delivery_policy: str = "tls_first"
    portal_keyword: str = "[secure]"
    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 12 * 60 * 60
    invitation_ttl_seconds: int = 72 * 60 * 60
    pickup_ttl_seconds: int = 72 * 60 * 60
    unknown_user_guard_seconds: int = 24 * 60 * 60
    max_json_bytes: int = 64 * 1024
    max_attachment_bytes: int = 25 * 1024 * 1024
    inline_download_max_bytes: int = 4 * 1024 * 1024
    strikes_before_termination: int = 3
    self_service_unlock: bool = False
    local_mode: bool = False
    plan_name: str = "Sealpost"
    support_contact: str = "the associate with whom you regularly conduct business"
    max_mail_bytes: int = 25 * 1024 * 1024
    tls_cache_seconds: int = 24 * 60 * 60
    audit_signing_key_arn: str = ""
    audit_digest_minutes: int = 60
    logo_url: str = branding.DEFAULT_LOGO
    brand_color: str = branding.DEFAULT_BRAND_COLOR
    accent_color: str = branding.DEFAULT_ACCENT_COLOR
    footer_text: str = ""

    @property
    def brand(self) -> branding.Brand:
        return branding.Brand(
            plan_name=self.plan_name,
            logo_url=self.logo_url,
            color=self.brand_color,
            accent=self.accent_color,
            support_contact=self.support_contact,
            footer_text=self.footer_text,
        )

    def is_internal_address(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return domain in self.internal_domains

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        settings = cls(
            deployment=reader.text("DEPLOYMENT"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            accounts_table=reader.text("ACCOUNTS_TABLE"),
            sessions_table=reader.text("SESSIONS_TABLE"),
            tokens_table=reader.text("TOKENS_TABLE"),
            gateway_table=reader.text("GATEWAY_TABLE"),
            audit_bucket=reader.text("AUDIT_BUCKET"),
            threads_table=reader.text("THREADS_TABLE"),
            messages_bucket=reader.text("MESSAGES_BUCKET"),
            staging_bucket=reader.text("STAGING_BUCKET"),
            download_access_point_arn=reader.text("DOWNLOAD_ACCESS_POINT_ARN"),
            inbound_bucket=reader.text("INBOUND_BUCKET"),
            gateway_address=reader.text("GATEWAY_ADDRESS").lower(),
            tls_configuration_set=reader.text("TLS_CONFIGURATION_SET"),
            delivery_policy=reader.choice("DELIVERY_POLICY", "tls_first", ("tls_first", "portal_always")),
            portal_keyword=reader.text("PORTAL_KEYWORD", "[secure]").lower(),
            kms_key_arn=reader.text("KMS_KEY_ARN"),
            mail_from=reader.text("MAIL_FROM"),
            portal_url=reader.text("PORTAL_URL").rstrip("/"),
            internal_domains=reader.domains("INTERNAL_DOMAINS"),
            lockout_threshold=reader.integer("LOCKOUT_THRESHOLD", 3, low=1, high=20),
            max_interactions=reader.integer("MAX_INTERACTIONS", 12, low=1, high=1000),
            credential_scope=reader.choice("CREDENTIAL_SCOPE", "recipient", ("recipient", "thread")),
            session_idle_seconds=60 * reader.integer("SESSION_IDLE_MINUTES", 15, low=1, high=24 * 60),
            session_absolute_seconds=3600 * reader.integer("SESSION_ABSOLUTE_HOURS", 12, low=1, high=7 * 24),
            invitation_ttl_seconds=3600 * reader.integer("INVITATION_TTL_HOURS", 72, low=1, high=30 * 24),
            pickup_ttl_seconds=3600 * reader.integer("PICKUP_TTL_HOURS", 72, low=1, high=30 * 24),
            max_json_bytes=reader.integer("MAX_JSON_BYTES", 64 * 1024, low=1024, high=6 * 1024 * 1024),
            max_attachment_bytes=reader.integer("MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024, low=1, high=1024**3),
            inline_download_max_bytes=reader.integer("INLINE_DOWNLOAD_MAX_BYTES", 4 * 1024 * 1024, low=0, high=1024**3),
            strikes_before_termination=reader.integer("STRIKES_BEFORE_TERMINATION", 3, low=1, high=100),
            self_service_unlock=reader.flag("SELF_SERVICE_UNLOCK", False),
            local_mode=reader.flag("LOCAL_MODE", False),
            plan_name=reader.text("PLAN_NAME", "Sealpost"),
            support_contact=reader.text("SUPPORT_CONTACT", "the associate with whom you regularly conduct business"),
            max_mail_bytes=1024 * 1024 * reader.integer("MAX_MAIL_MB", 25, low=1, high=40),
            tls_cache_seconds=3600 * reader.integer("TLS_CACHE_HOURS", 24, low=1, high=7 * 24),
            audit_signing_key_arn=reader.text("AUDIT_SIGNING_KEY_ARN", ""),
            audit_digest_minutes=reader.integer("AUDIT_DIGEST_MINUTES", 60, low=5, high=1440),
            logo_url=reader.checked("LOGO_URL", branding.DEFAULT_LOGO, branding.check_logo_url),
            brand_color=reader.checked("BRAND_COLOR", branding.DEFAULT_BRAND_COLOR, branding.check_brand_color),
            accent_color=reader.checked("ACCENT_COLOR", branding.DEFAULT_ACCENT_COLOR, branding.parse_color),
            footer_text=reader.text("FOOTER_TEXT", "")[:500],
        )
        if settings.audit_digest_minutes not in PERIOD_MINUTES:
            raise ConfigurationError(f"{PREFIX}AUDIT_DIGEST_MINUTES must be one of {PERIOD_MINUTES}")
        if not settings.kms_key_arn.startswith("arn:"):
            # The Encryption SDK's strict provider needs a key ARN, never an alias.
            raise ConfigurationError(f"{PREFIX}KMS_KEY_ARN must be a key ARN")
        return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(PREFIX + name)
        return value.strip() if value is not None else None

    def text(self, name: str, default: str | None = None) -> str:
        value = self._raw(name)
        if value:
            return value
        if default is None:
            raise ConfigurationError(f"{PREFIX}{name} is not set")
        return default

    def checked(self, name: str, default: str, check: Callable[[str], str]) -> str:
        value = self._raw(name)
        if not value:
            return default
        try:
            return check(value)
        except ValueError as problem:
            raise ConfigurationError(f"{PREFIX}{name} {problem}") from None

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self._raw(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(f"{PREFIX}{name} must be a whole number") from None
        if not low <= number <= high:
            raise ConfigurationError(f"{PREFIX}{name} must be between {low} and {high}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if not value:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{PREFIX}{name} must be true or false")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> Any:
        value = (self._raw(name) or default).lower()
        if value not in allowed:
            raise ConfigurationError(f"{PREFIX}{name} must be one of {', '.join(allowed)}")
        return value

    def domains(self, name: str) -> tuple[str, ...]:
        domains = tuple(d.strip().lower() for d in self.text(name).split(",") if d.strip())
        if not domains:
            raise ConfigurationError(f"{PREFIX}{name} must name at least one domain")
        return domains
