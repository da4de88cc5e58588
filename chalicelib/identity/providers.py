"""The OpenID providers Sealpost trusts, their discovery documents, and the one HTTP client that talks
to them.

Two providers at most, each configured on its own (chalicelib/settings.py): ``associates`` (the
plan's own, for the internal domains) and ``partners`` (a member or provider portal for outside users).
The discovery document must name exactly the configured issuer (OpenID Connect Discovery 1.0, 4.3),
and every endpoint in it must be https outside local mode; it is cached for an hour. Requests never
follow redirects and always time out.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import urllib3

from chalicelib.errors import ConfigurationError, IdentityProviderUnavailable
from chalicelib.settings import Settings

ProviderName = Literal["associates", "partners"]
MfaSource = Literal["amr", "sealpost"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("associates", "partners")
DISCOVERY_SECONDS = 3600
_MAX_ANSWER = 256 * 1024  # a discovery document, a token or a userinfo answer is a few kB


@dataclass(frozen=True)
class ProviderConfig:
    name: ProviderName
    issuer: str
    client_id: str
    secret_arn: str
    scopes: str
    mfa_source: MfaSource
    groups_claim: str = "groups"
    associate_group: str = ""  # "" = anyone of the internal domains
    admin_group: str = ""  # "" = no administrators through the provider
    # The plan's own workforce directory: its addresses are set by its administrators, so a token
    # without ``email_verified`` is taken (``AssociateIdpEmailVerified=directory``); false never is.
    directory: bool = False

    @classmethod
    def of(cls, settings: Settings, name: str) -> ProviderConfig | None:
        """The provider called ``name`` if it is configured (its issuer set), else None."""
        if name == "associates" and settings.associate_idp_issuer:
            return cls(
                name="associates",
                issuer=settings.associate_idp_issuer,
                client_id=_required(settings.associate_idp_client_id, "SEALPOST_ASSOCIATE_IDP_CLIENT_ID"),
                secret_arn=_required(settings.associate_idp_secret_arn, "SEALPOST_ASSOCIATE_IDP_SECRET_ARN"),
                scopes=_scopes(settings.associate_idp_scopes),
                mfa_source="sealpost" if settings.associate_idp_mfa == "sealpost" else "amr",
                groups_claim=settings.associate_idp_groups_claim,
                associate_group=settings.associate_idp_associate_group,
                admin_group=settings.associate_idp_admin_group,
                directory=settings.associate_idp_email_verified == "directory",
            )
        if name == "partners" and settings.partner_idp_issuer:
            return cls(
                name="partners",
                issuer=settings.partner_idp_issuer,
                client_id=_required(settings.partner_idp_client_id, "SEALPOST_PARTNER_IDP_CLIENT_ID"),
                secret_arn=_required(settings.partner_idp_secret_arn, "SEALPOST_PARTNER_IDP_SECRET_ARN"),
                scopes=_scopes(settings.partner_idp_scopes),
                mfa_source="sealpost" if settings.partner_idp_mfa == "sealpost" else "amr",
            )
        return None

    def redirect_uri(self, portal_url: str) -> str:
        return f"{portal_url}/auth/{self.name}/callback"


def _required(value: str, variable: str) -> str:
    if not value:
        raise ConfigurationError(f"{variable} is not set")
    return value


def _scopes(raw: str) -> str:
    scopes = raw.split()
    return " ".join(["openid", *[s for s in scopes if s != "openid"]])


# --- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class HttpClient(Protocol):
    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Answer: ...

    def post_form(self, url: str, fields: Mapping[str, str], headers: Mapping[str, str]) -> Answer: ...


@dataclass
class Urllib3Client:
    """JSON over HTTPS (http only in local mode): 3 s to connect, 10 s to read, no redirects, no retries."""

    local_mode: bool = False
    pool: urllib3.PoolManager = field(
        default_factory=lambda: urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=10), retries=False)
    )

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Answer:
        return self._request("GET", url, headers=dict(headers or {}))

    def post_form(self, url: str, fields: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        return self._request("POST", url, fields=dict(fields), headers=dict(headers))

    def _request(self, method: str, url: str, **more: Any) -> Answer:
        check_url(url, self.local_mode)
        headers = {"Accept": "application/json", **more.pop("headers")}
        try:
            if "fields" in more:
                reply = self.pool.request(
                    method, url, fields=more["fields"], headers=headers, encode_multipart=False, redirect=False
                )
            else:
                reply = self.pool.request(method, url, headers=headers, redirect=False)
        except urllib3.exceptions.HTTPError:
            raise IdentityProviderUnavailable() from None
        data = reply.data[:_MAX_ANSWER]
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        return Answer(reply.status, body if isinstance(body, dict) else {})


def check_url(url: str, local_mode: bool) -> None:
    """Only https (plain http to a local stand-in in local mode), with a host."""
    parts = urlsplit(url)
    allowed = ("https", "http") if local_mode else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ConfigurationError("an OpenID provider address must use https")


# --- discovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    # RFC 9207: the provider puts `iss` into its authorization responses (then it must be there).
    returns_iss: bool


@dataclass
class Discovery:
    http: HttpClient
    local_mode: bool = False
    seconds: int = DISCOVERY_SECONDS
    _cache: dict[str, tuple[float, ProviderMetadata]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def metadata(self, issuer: str) -> ProviderMetadata:
        with self._lock:
            cached = self._cache.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < self.seconds:
            return cached[1]
        found = self._fetch(issuer)
        with self._lock:
            self._cache[issuer] = (time.monotonic(), found)
        return found

    def _fetch(self, issuer: str) -> ProviderMetadata:
        answer = self.http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        document = answer.body
        if answer.status != 200 or document.get("issuer") != issuer:
            # A document for another issuer would let that one's tokens in (Discovery 1.0, 4.3).
            raise IdentityProviderUnavailable()
        try:
            endpoints = {name: str(document[name]) for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
        except KeyError:
            raise IdentityProviderUnavailable() from None
        optional = {name: document.get(name) for name in ("userinfo_endpoint", "end_session_endpoint")}
        for url in [*endpoints.values(), *(u for u in optional.values() if u)]:
            check_url(str(url), self.local_mode)
        return ProviderMetadata(
            issuer=issuer,
            **endpoints,
            userinfo_endpoint=str(optional["userinfo_endpoint"]) if optional["userinfo_endpoint"] else None,
            end_session_endpoint=str(optional["end_session_endpoint"]) if optional["end_session_endpoint"] else None,
            returns_iss=document.get("authorization_response_iss_parameter_supported") is True,
        )
