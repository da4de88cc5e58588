"""Deployment settings, read from environment variables each time they are asked for.

Every setting is declared once, as a field of ``Settings`` built by ``setting()``: its
variable (``SEALPOST_`` + name), kind, default, bounds or choices, unit and the
CloudFormation parameter an operator sets it with. ``from_env`` reads the fields
generically. Resource names come from ``infra/template.yaml``
(``Globals.Function.Environment``); operator policies are that template's
``Parameters``, wired to the same variables (``tests/test_infra.py`` checks both agree).
Nothing here touches AWS, and this module imports no feature package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, get_args

from chalicelib import branding
from chalicelib.errors import ConfigurationError

CredentialScope = Literal["recipient", "thread"]
MfaPolicy = Literal["required", "optional", "off"]
Kind = Literal["text", "integer", "flag", "choice", "domains", "checked"]

PREFIX = "SEALPOST_"
SPEC = "sealpost.setting"  # the key of a field's metadata that holds its Spec
# Lengths that divide an hour, or whole hours that divide a day, so that every digest
# period lies inside one day and lines up with the hourly record partitions.
DIGEST_PERIOD_MINUTES = (5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Spec:
    """How one setting is read. ``default`` is in the variable's unit; None means required."""

    variables: tuple[str, ...]  # the first one that is set wins; errors name the first
    kind: Kind
    default: object = None
    low: int | None = None
    high: int | None = None
    choices: tuple[Any, ...] = ()
    unit: int = 1  # variable in minutes, hours or MB, field in seconds or bytes
    check: Callable[[str], str] | None = None
    clean: Callable[[str], str] | None = None
    longest: int | None = None
    parameter: str | None = None  # the template parameter operators set it with

    @property
    def variable(self) -> str:
        return self.variables[0]

    def parse(self, value: str) -> Any:
        """The field's value for a non-empty, stripped variable ``value``."""
        if self.kind == "integer":
            return self.unit * self._integer(value)
        if self.kind == "flag":
            if value.lower() in _TRUE + _FALSE:
                return value.lower() in _TRUE
            raise ConfigurationError(f"{self.variable} must be true or false")
        if self.kind == "choice":
            if value.lower() not in self.choices:
                raise ConfigurationError(f"{self.variable} must be one of {', '.join(self.choices)}")
            return value.lower()
        if self.kind == "domains":
            domains = tuple(d.strip().lower() for d in value.split(",") if d.strip())
            if not domains:
                raise ConfigurationError(f"{self.variable} must name at least one domain")
            return domains
        if self.check is not None:
            try:
                value = self.check(value)
            except ValueError as problem:
                raise ConfigurationError(f"{self.variable} {problem}") from None
        value = self.clean(value) if self.clean else value
        return value[: self.longest] if self.longest else value

    def _integer(self, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(f"{self.variable} must be a whole number") from None
        if self.low is not None and self.high is not None and not self.low <= number <= self.high:
            raise ConfigurationError(f"{self.variable} must be between {self.low} and {self.high}")
        if self.choices and number not in self.choices:
            raise ConfigurationError(f"{self.variable} must be one of {self.choices}")
        return number


def setting(
    *names: str,
    default: object = None,
    kind: Kind | None = None,
    low: int | None = None,
    high: int | None = None,
    choices: tuple[Any, ...] = (),
    unit: int = 1,
    check: Callable[[str], str] | None = None,
    clean: Callable[[str], str] | None = None,
    longest: int | None = None,
    parameter: str | None = None,
    prefix: str = PREFIX,
) -> Any:
    """A ``Settings`` field read from ``prefix + name``; the kind follows from the arguments."""
    if kind is None:
        if check is not None:
            kind = "checked"
        elif isinstance(default, bool):
            kind = "flag"
        elif isinstance(default, int) or low is not None:
            kind = "integer"
        else:
            kind = "choice" if choices else "text"
    variables = tuple(prefix + name for name in names)
    spec = Spec(variables, kind, default, low, high, choices, unit, check, clean, longest, parameter)
    if default is None:
        return field(metadata={SPEC: spec})
    value = unit * default if kind == "integer" and isinstance(default, int) else default
    return field(default=value, metadata={SPEC: spec})


def _key_arn(value: str) -> str:
    # The Encryption SDK's strict provider needs a key ARN, never an alias.
    if not value.startswith("arn:"):
        raise ValueError("must be a key ARN")
    return value


def _issuer(value: str) -> str:
    # An OpenID issuer is a URL without query or fragment (OpenID Connect Discovery 1.0, section 2).
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[A-Za-z0-9._~%/\-]*)?", value):
        raise ValueError("must be an issuer URL (https://host[/path])")
    return value  # compared exactly with the provider's own (a trailing slash included)


KB, MB, MINUTE, HOUR = 1024, 1024 * 1024, 60, 3600


@dataclass(frozen=True, kw_only=True)
class Settings:
    # Resources: the template wires them from its resources, not from parameters.
    deployment: str = setting("DEPLOYMENT")
    region: str = setting("AWS_REGION", "AWS_DEFAULT_REGION", default="us-east-1", prefix="")  # set by Lambda
    accounts_table: str = setting("ACCOUNTS_TABLE")
    sessions_table: str = setting("SESSIONS_TABLE")
    tokens_table: str = setting("TOKENS_TABLE")
    gateway_table: str = setting("GATEWAY_TABLE")
    audit_bucket: str = setting("AUDIT_BUCKET")
    threads_table: str = setting("THREADS_TABLE")
    messages_bucket: str = setting("MESSAGES_BUCKET")
    staging_bucket: str = setting("STAGING_BUCKET")
    # The streaming download function's URL (its function URL; the local download server in
    # `make run`): only the API function needs it, so it has a default and no parameter.
    download_url: str = setting("DOWNLOAD_URL", default="", clean=lambda url: url.rstrip("/"))
    inbound_bucket: str = setting("INBOUND_BUCKET")
    # The account-mail queue's URL (forgot-password requests, for send_account_mail). Wired in every
    # function's environment; the default only spares the tests that never send to it.
    account_mail_queue: str = setting("ACCOUNT_MAIL_QUEUE", default="")
    # Made from the GatewayLocalPart and MailDomain parameters (Fn::Sub), so not one parameter.
    gateway_address: str = setting("GATEWAY_ADDRESS", clean=str.lower)
    tls_configuration_set: str = setting("TLS_CONFIGURATION_SET")
    kms_key_arn: str = setting("KMS_KEY_ARN", check=_key_arn)
    mail_from: str = setting("MAIL_FROM")
    audit_signing_key_arn: str = setting("AUDIT_SIGNING_KEY_ARN", default="")
    # Operator policies: each is a template parameter of the same default and bounds.
    portal_url: str = setting("PORTAL_URL", clean=lambda url: url.rstrip("/"), parameter="PortalUrl")
    internal_domains: tuple[str, ...] = setting("INTERNAL_DOMAINS", kind="domains", parameter="InternalDomains")
    lockout_threshold: int = setting("LOCKOUT_THRESHOLD", default=3, low=1, high=20, parameter="LockoutThreshold")
    max_interactions: int = setting("MAX_INTERACTIONS", default=12, low=1, high=1000, parameter="MaxInteractions")
    # ruff cannot see that the alias is an (immutable) Literal of strings.
    credential_scope: CredentialScope = setting(  # noqa: RUF009
        "CREDENTIAL_SCOPE", default="recipient", choices=get_args(CredentialScope), parameter="CredentialScope"
    )
    delivery_policy: str = setting(
        "DELIVERY_POLICY", default="tls_first", choices=("tls_first", "portal_always"), parameter="DeliveryPolicy"
    )
    portal_keyword: str = setting("PORTAL_KEYWORD", default="[secure]", clean=str.lower, parameter="PortalKeyword")
    session_idle_seconds: int = setting(
        "SESSION_IDLE_MINUTES", default=15, low=1, high=24 * 60, unit=MINUTE, parameter="SessionIdleMinutes"
    )
    session_absolute_seconds: int = setting(
        "SESSION_ABSOLUTE_HOURS", default=12, low=1, high=7 * 24, unit=HOUR, parameter="SessionAbsoluteHours"
    )
    invitation_ttl_seconds: int = setting(
        "INVITATION_TTL_HOURS", default=72, low=1, high=30 * 24, unit=HOUR, parameter="InvitationTtlHours"
    )
    pickup_ttl_seconds: int = setting(
        "PICKUP_TTL_HOURS", default=72, low=1, high=30 * 24, unit=HOUR, parameter="PickupTtlHours"
    )
    # Not read from the environment: the window of the failure counter shared by unknown
    # user names (against name probing) is part of the lockout design, not a policy.
    unknown_user_guard_seconds: int = 24 * HOUR
    # The failure budget of one source address (accounts.source_budget): failed sign-ins, bad links
    # and reset requests it may make per window before its attempts are refused (429). 0 turns it
    # off. Variables without a parameter (yet); the WAF's rate rules are the layer in front.
    source_failure_budget: int = setting(
        "SOURCE_FAILURE_BUDGET", default=20, low=0, high=10_000, parameter="SourceFailureBudget"
    )
    source_failure_window_seconds: int = setting(
        "SOURCE_FAILURE_WINDOW_MINUTES",
        default=15,
        low=1,
        high=24 * 60,
        unit=MINUTE,
        parameter="SourceFailureWindowMinutes",
    )
    # Engineering limits, no parameter: a JSON body is small by design, and inline downloads
    # must stay below Lambda's 6 MB response; tuned with the code, not per plan.
    max_json_bytes: int = setting("MAX_JSON_BYTES", default=64 * KB, low=1 * KB, high=6 * MB)
    max_attachment_bytes: int = setting(
        "MAX_ATTACHMENT_BYTES", default=100 * MB, low=1, high=1024 * MB, parameter="MaxAttachmentBytes"
    )
    inline_download_max_bytes: int = setting("INLINE_DOWNLOAD_MAX_BYTES", default=4 * MB, low=0, high=1024 * MB)
    strikes_before_termination: int = setting(
        "STRIKES_BEFORE_TERMINATION", default=3, low=1, high=100, parameter="StrikesBeforeTermination"
    )
    self_service_unlock: bool = setting("SELF_SERVICE_UNLOCK", default=False, parameter="SelfServiceUnlock")
    # A second factor after the password (chalicelib/mfa): required, optional (offered, may be skipped) or off.
    mfa_policy: MfaPolicy = setting(  # noqa: RUF009
        "MFA_POLICY", default="required", choices=get_args(MfaPolicy), parameter="MfaPolicy"
    )
    # Associates sign in through the plan's OpenID provider; a password only in local mode and for the
    # break-glass account. from_env refuses true in the prod stage (SEALPOST_STAGE, .chalice/config.json).
    associate_password_signin: bool = setting(
        "ASSOCIATE_PASSWORD_SIGNIN", default=False, parameter="AssociatePasswordSignIn"
    )
    stage: str = setting("STAGE", default="")  # Chalice's stage (dev, prod): its config, not a parameter
    # OpenID Connect (chalicelib/identity): the associates' provider ("" = off), and a second, separately
    # configured one for outside users (R1 still holds: only existing accounts). The client secrets live in
    # Secrets Manager; the environment holds their ARNs only (the template's secrets).
    associate_idp_issuer: str = setting(
        "ASSOCIATE_IDP_ISSUER", default="", check=_issuer, parameter="AssociateIdpIssuer"
    )
    associate_idp_client_id: str = setting("ASSOCIATE_IDP_CLIENT_ID", default="", parameter="AssociateIdpClientId")
    associate_idp_scopes: str = setting(
        "ASSOCIATE_IDP_SCOPES", default="openid email profile", parameter="AssociateIdpScopes"
    )
    associate_idp_groups_claim: str = setting(
        "ASSOCIATE_IDP_GROUPS_CLAIM", default="groups", parameter="AssociateIdpGroupsClaim"
    )
    associate_idp_associate_group: str = setting(
        "ASSOCIATE_IDP_ASSOCIATE_GROUP", default="", parameter="AssociateIdpAssociateGroup"
    )
    associate_idp_admin_group: str = setting(
        "ASSOCIATE_IDP_ADMIN_GROUP", default="", parameter="AssociateIdpAdminGroup"
    )
    associate_idp_mfa: str = setting(
        "ASSOCIATE_IDP_MFA", default="amr", choices=("amr", "sealpost"), parameter="AssociateIdpMfa"
    )
    # required: the token must say email_verified=true; directory: the provider is the plan's own workforce
    # directory (Entra ID often sends no email_verified), whose addresses its administrators set.
    associate_idp_email_verified: str = setting(
        "ASSOCIATE_IDP_EMAIL_VERIFIED",
        default="required",
        choices=("required", "directory"),
        parameter="AssociateIdpEmailVerified",
    )
    associate_idp_secret_arn: str = setting("ASSOCIATE_IDP_SECRET_ARN", default="")
    partner_idp_issuer: str = setting("PARTNER_IDP_ISSUER", default="", check=_issuer, parameter="PartnerIdpIssuer")
    partner_idp_client_id: str = setting("PARTNER_IDP_CLIENT_ID", default="", parameter="PartnerIdpClientId")
    partner_idp_scopes: str = setting("PARTNER_IDP_SCOPES", default="openid email", parameter="PartnerIdpScopes")
    partner_idp_mfa: str = setting(
        "PARTNER_IDP_MFA", default="amr", choices=("amr", "sealpost"), parameter="PartnerIdpMfa"
    )
    partner_idp_secret_arn: str = setting("PARTNER_IDP_SECRET_ARN", default="")
    # The local stand-in only (devtools); a deployment never sets it, so no parameter.
    local_mode: bool = setting("LOCAL_MODE", default=False)
    plan_name: str = setting("PLAN_NAME", default="Sealpost", parameter="PlanName")
    support_contact: str = setting(
        "SUPPORT_CONTACT", default="the associate with whom you regularly conduct business", parameter="SupportContact"
    )
    max_mail_bytes: int = setting("MAX_MAIL_MB", default=25, low=1, high=40, unit=MB, parameter="MaxMailMB")
    tls_cache_seconds: int = setting(
        "TLS_CACHE_HOURS", default=24, low=1, high=7 * 24, unit=HOUR, parameter="TlsCacheHours"
    )
    # R11, fail closed: content the scanner cannot read (images, archives, forwarded mail, S/MIME,
    # encrypted files, HTML comments) counts as sensitive, so it needs verified TLS or pickup.
    unscannable_is_sensitive: bool = setting(
        "UNSCANNABLE_IS_SENSITIVE", default=True, parameter="UnscannableContentIsSensitive"
    )
    audit_digest_minutes: int = setting(
        "AUDIT_DIGEST_MINUTES",
        default=60,
        low=5,
        high=1440,
        choices=DIGEST_PERIOD_MINUTES,
        parameter="AuditDigestMinutes",
    )
    logo_url: str = setting(
        "LOGO_URL", default=branding.DEFAULT_LOGO, check=branding.check_logo_url, parameter="LogoUrl"
    )
    brand_color: str = setting(
        "BRAND_COLOR", default=branding.DEFAULT_BRAND_COLOR, check=branding.check_brand_color, parameter="BrandColor"
    )
    accent_color: str = setting(
        "ACCENT_COLOR", default=branding.DEFAULT_ACCENT_COLOR, check=branding.parse_color, parameter="AccentColor"
    )
    footer_text: str = setting("FOOTER_TEXT", default="", longest=500, parameter="FooterText")

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
        values: dict[str, Any] = {}
        for item in fields(cls):
            spec = item.metadata.get(SPEC)
            if not isinstance(spec, Spec):
                continue  # fixed in the code
            raw = next((value for name in spec.variables if (value := env.get(name, "").strip())), "")
            if raw:
                values[item.name] = spec.parse(raw)
            elif item.default is MISSING:
                raise ConfigurationError(f"{spec.variable} is not set")
            # else: unset or empty, so the field's default applies
        settings = cls(**values)
        if settings.stage == "prod" and settings.associate_password_signin:
            raise ConfigurationError("SEALPOST_ASSOCIATE_PASSWORD_SIGNIN must be false in the prod stage")
        return settings


def specs() -> dict[str, Spec]:
    """Each setting read from the environment, by field name (for the template's tests)."""
    return {item.name: item.metadata[SPEC] for item in fields(Settings) if SPEC in item.metadata}
