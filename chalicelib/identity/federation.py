"""Signing in through an OpenID provider: the authorization code flow with PKCE (S256), ``state`` and
``nonce`` (OpenID Connect Core 3.1), for associates through the plan's provider and for outside users
with an account through the partners' provider.

The callback, in order, before anything is written:
1. the single-use transaction of this browser (``transactions``), then the response's ``iss``
   (RFC 9207) and any error the provider sent;
2. the code for tokens at the token endpoint (client_secret_basic, the PKCE verifier);
3. the ID token (``id_tokens``); the mail address, its verification and the groups from the token or
   else from userinfo, whose ``sub`` must be the token's; ``email_verified`` must be true;
4. the multi-factor sign-in the provider reports (``amr``, RFC 8176) when it is trusted for it.
Then the account: the identity's link (issuer + subject, ``links``) names it. Associates: only
addresses of the internal domains, in the associate group when one is set (a person who left it is
disabled), administrators by the admin group; the first sign-in links the associate of that address
or creates one (no password). Partners: only an account that already exists for the verified address
(R1). Every refusal is audited with its reason and answered alike (``FederatedSignInRefused``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib import clock
from chalicelib.accounts.model import Account, Role, Status, validate_display_name
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.signin import SignedIn, SignInService
from chalicelib.accounts.store import AccountRepository
from chalicelib.addresses import validate_email
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, Outcome, RequestInfo
from chalicelib.errors import FederatedSignInRefused, IdentityProviderUnavailable, InvalidRequest, NotFound
from chalicelib.identity.client_secrets import ClientSecret
from chalicelib.identity.id_tokens import IdTokenVerifier, VerifiedIdentity
from chalicelib.identity.links import Links
from chalicelib.identity.providers import Discovery, HttpClient, ProviderConfig, ProviderMetadata, Urllib3Client
from chalicelib.identity.transactions import Begun, TransactionStore
from chalicelib.settings import Settings

# RFC 8176 methods. A sign-in is multi-factor when the provider says so ("mfa"), or when it names a
# possession factor beside another method (e.g. pwd + otp, or a security key with a PIN).
POSSESSION = frozenset({"hwk", "swk", "otp", "sms", "tel", "sc"})
# OAuth error codes (RFC 6749, OpenID Core 3.1.2.6) recorded as they are; anything else is "other".
OAUTH_ERRORS = frozenset(
    {
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
        "invalid_scope", "access_denied", "unsupported_response_type", "server_error", "temporarily_unavailable",
        "interaction_required", "login_required", "account_selection_required", "consent_required",
    }
)  # fmt: skip


def is_multi_factor(amr: tuple[str, ...]) -> bool:
    methods = set(amr)
    return "mfa" in methods or (bool(methods & POSSESSION) and len(methods) >= 2)


def oauth_error(value: Any) -> str:
    return value if isinstance(value, str) and value in OAUTH_ERRORS else "other"


@dataclass(frozen=True)
class Started:
    url: str  # the provider's authorization endpoint with this sign-in's request
    browser_secret: str
    new_cookie: bool


@dataclass(frozen=True)
class Finished:
    signed_in: SignedIn
    next_path: str


@dataclass(frozen=True)
class FederatedSignIn:
    settings: Settings
    accounts: AccountRepository
    links: Links
    signin: SignInService
    sessions: SessionService
    audit: AuditLog
    discovery: Discovery
    verifier: IdTokenVerifier
    transactions: TransactionStore
    http: HttpClient
    client_secrets: Mapping[str, ClientSecret]

    @classmethod
    def build(
        cls,
        settings: Settings,
        accounts: AccountRepository,
        signin: SignInService,
        audit: AuditLog,
        sessions_table: Callable[[], Any],
        secrets_manager: Callable[[], Any],
    ) -> FederatedSignIn:
        """The sign-in for the configured providers, with nothing made yet (clients on first use)."""
        http = Urllib3Client(local_mode=settings.local_mode)
        arns = {"associates": settings.associate_idp_secret_arn, "partners": settings.partner_idp_secret_arn}
        return cls(
            settings=settings,
            accounts=accounts,
            links=Links(accounts),
            signin=signin,
            sessions=signin.sessions,
            audit=audit,
            discovery=Discovery(http, local_mode=settings.local_mode),
            verifier=IdTokenVerifier(),
            transactions=TransactionStore(sessions_table),
            http=http,
            client_secrets={name: ClientSecret(arn, secrets_manager) for name, arn in arns.items() if arn},
        )

    def provider(self, name: str) -> ProviderConfig:
        config = ProviderConfig.of(self.settings, name)
        if config is None:
            raise NotFound()
        return config

    def configured(self, name: str) -> bool:
        return ProviderConfig.of(self.settings, name) is not None

    def start(self, name: str, next_path: str, browser_secret: str | None) -> Started:
        config = self.provider(name)
        metadata = self.discovery.metadata(config.issuer)
        begun: Begun = self.transactions.begin(name, next_path, browser_secret)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": config.client_id,
                "redirect_uri": config.redirect_uri(self.settings.portal_url),
                "scope": config.scopes,
                "state": begun.state,
                "nonce": begun.nonce,
                "code_challenge": begun.code_challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return Started(metadata.authorization_endpoint + separator + query, begun.browser_secret, begun.new_cookie)

    def end_session_url(self, name: str) -> str | None:
        """The provider's logout (RP-initiated logout 1.0), back to our sign-in page afterwards."""
        config = ProviderConfig.of(self.settings, name)
        if config is None:
            return None
        try:
            endpoint = self.discovery.metadata(config.issuer).end_session_endpoint
        except IdentityProviderUnavailable:
            return None
        if not endpoint:
            return None
        query = urlencode(
            {"client_id": config.client_id, "post_logout_redirect_uri": self.settings.portal_url + "/signin"}
        )
        return endpoint + ("&" if "?" in endpoint else "?") + query

    # --- the callback ---------------------------------------------------------------------------

    def callback(
        self, name: str, params: Mapping[str, str], browser_secret: str | None, request: RequestInfo
    ) -> Finished:
        config = self.provider(name)
        account: str | None = None
        try:
            transaction = self.transactions.consume(params.get("state"), browser_secret)
            if transaction.provider != name:
                raise FederatedSignInRefused("state_unknown")
            metadata = self.discovery.metadata(config.issuer)
            identity = self._identity(config, metadata, params, transaction.nonce, transaction.code_verifier)
            claims = identity.claims
            email = self._verified_email(config, claims)
            if config.mfa_source == "amr" and not is_multi_factor(identity.amr):
                raise FederatedSignInRefused("idp_mfa_missing")
            found = (
                self._associate(config, identity, email, request)
                if name == "associates"
                else self._partner(config, identity, email, request)
            )
            account = found.username
            signed_in = self._session(config, found, request)
        except FederatedSignInRefused as refused:
            self._refused(name, refused.reason, refused.provider_error, account, request)
            raise
        except IdentityProviderUnavailable:
            self._refused(name, "idp_unavailable", None, account, request)
            raise
        return Finished(signed_in, transaction.next_path)

    def _identity(
        self, config: ProviderConfig, metadata: ProviderMetadata, params: Mapping[str, str], nonce: str, verifier: str
    ) -> VerifiedIdentity:
        iss = params.get("iss")
        if (metadata.returns_iss or iss is not None) and iss != config.issuer:
            raise FederatedSignInRefused("idp_error", "iss_mismatch")  # RFC 9207: a mix-up attack
        if "error" in params:
            raise FederatedSignInRefused("idp_error", oauth_error(params.get("error")))
        code = params.get("code")
        if not code or len(code) > 2048:
            raise FederatedSignInRefused("idp_error", "no_code")
        tokens = self._exchange(config, metadata, code, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise FederatedSignInRefused("idp_error", "no_id_token")
        identity = self.verifier.verify(
            id_token, issuer=config.issuer, client_id=config.client_id, jwks_uri=metadata.jwks_uri, nonce=nonce
        )
        wanted = ("email", "email_verified", config.groups_claim, "name")
        needs_groups = config.name == "associates" and bool(config.associate_group or config.admin_group)
        if {"email", "email_verified"} <= set(identity.claims) and (
            not needs_groups or config.groups_claim in identity.claims
        ):
            return identity  # the token said it all: no userinfo call
        access_token = tokens.get("access_token")
        if not metadata.userinfo_endpoint or not isinstance(access_token, str):
            return identity
        answer = self.http.get(metadata.userinfo_endpoint, {"Authorization": "Bearer " + access_token})
        if answer.status != 200:
            raise FederatedSignInRefused("idp_error", "userinfo")
        if answer.body.get("sub") != identity.subject:  # Core 5.3.2: else the claims are someone else's
            raise FederatedSignInRefused("idp_error", "userinfo_subject")
        merged = dict(identity.claims)
        for claim in wanted:
            if claim not in merged and claim in answer.body:
                merged[claim] = answer.body[claim]
        return VerifiedIdentity(identity.issuer, identity.subject, merged)

    def _exchange(self, config: ProviderConfig, metadata: ProviderMetadata, code: str, verifier: str) -> dict[str, Any]:
        secret = self.client_secrets.get(config.name)
        if secret is None:
            raise NotFound()
        for fresh in (False, True):
            # client_secret_basic: each part form-encoded first (RFC 6749 2.3.1).
            pair = f"{quote(config.client_id, safe='')}:{quote(secret.value(fresh=fresh), safe='')}"
            answer = self.http.post_form(
                metadata.token_endpoint,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": config.redirect_uri(self.settings.portal_url),
                    "code_verifier": verifier,
                },
                {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
            )
            if answer.status == 200:
                return answer.body
            error = oauth_error(answer.body.get("error"))
            if error != "invalid_client" or fresh:  # invalid_client: read the secret again once (rotated)
                raise FederatedSignInRefused("idp_error", error)
        raise AssertionError("unreachable")

    def _verified_email(self, config: ProviderConfig, claims: Mapping[str, Any]) -> str:
        try:
            email = validate_email(claims.get("email"))
        except InvalidRequest:
            raise FederatedSignInRefused("email_unverified") from None
        verified = claims.get("email_verified")
        if verified in (True, "true"):  # Cognito sends the string
            return email
        if verified is None and config.directory:
            return email
        raise FederatedSignInRefused("email_unverified")

    # --- whose account ------------------------------------------------------------------------

    def _linked(self, identity: VerifiedIdentity) -> Account | None:
        username = self.links.username(identity.issuer, identity.subject)
        if username is None:
            return None
        account = self.accounts.get(username)
        if account is None:
            raise FederatedSignInRefused("not_linkable")
        return account

    def _associate(
        self, config: ProviderConfig, identity: VerifiedIdentity, email: str, request: RequestInfo
    ) -> Account:
        if not self.settings.is_internal_address(email):
            raise FederatedSignInRefused("outside_domain")
        raw_groups = identity.claims.get(config.groups_claim)
        groups = {g for g in raw_groups if isinstance(g, str)} if isinstance(raw_groups, list) else set()
        administrator = bool(config.admin_group) and config.admin_group in groups
        member = not config.associate_group or config.associate_group in groups or administrator
        account = self._linked(identity)
        if not member:
            if account is not None and account.status is not Status.TERMINATED:
                self._terminate(account, request)
            raise FederatedSignInRefused("not_in_group")
        if account is None:
            account = self._first_associate_sign_in(config, identity, email, administrator, request)
        if account.role is not Role.ASSOCIATE or account.break_glass:
            raise FederatedSignInRefused("not_linkable")  # break-glass signs in with its passphrase only
        account = self._usable(account, request)
        if config.admin_group and account.administrator != administrator:
            self.audit.record(
                AuditEvent.ACCOUNT_ROLE_CHANGED,
                actor=Actor.system("idp:" + config.name),
                request=request,
                account=account.username,
                reason="idp_group",
                detail={"administrator": administrator, "provider": config.name},
            )
            self.links.set_administrator(account.username, administrator)
            account = self.accounts.require(account.username)
        return account

    def _first_associate_sign_in(
        self, config: ProviderConfig, identity: VerifiedIdentity, email: str, administrator: bool, request: RequestInfo
    ) -> Account:
        existing_name = self.accounts.username_for_email(email)
        if existing_name is not None:
            existing = self.accounts.require(existing_name)
            if existing.role is not Role.ASSOCIATE or existing.break_glass:
                raise FederatedSignInRefused("not_linkable")
            self._link(config, identity, existing, request)
            return existing
        try:
            display_name = validate_display_name(identity.claims.get("name"))
        except InvalidRequest:
            display_name = ""
        account = Account(
            username=email,
            email=email,
            role=Role.ASSOCIATE,
            status=Status.ACTIVE,
            display_name=display_name,
            created_at=clock.iso(clock.now()),
            created_by="idp:" + config.name,
            administrator=administrator,
        )
        self.audit.record(
            AuditEvent.ACCOUNT_CREATED,
            actor=Actor.system("idp:" + config.name),
            request=request,
            account=account.username,
            reason="federated_first_signin",
            detail={"role": str(Role.ASSOCIATE), "provider": config.name, "administrator": administrator},
        )
        self.links.create_with_account(account, identity.issuer, identity.subject, config.name)
        return account

    def _partner(self, config: ProviderConfig, identity: VerifiedIdentity, email: str, request: RequestInfo) -> Account:
        account = self._linked(identity)
        if account is None:
            if self.settings.is_internal_address(email):
                raise FederatedSignInRefused("no_invitation")  # associates use their own provider
            username = self.accounts.username_for_email(email)
            account = self.accounts.get(username) if username else None
            if account is None or account.role is not Role.PARTNER:
                raise FederatedSignInRefused("no_invitation")  # R1: an associate's message made every account
            self._link(config, identity, account, request)
        if account.role is not Role.PARTNER:
            raise FederatedSignInRefused("no_invitation")
        return self._usable(account, request)

    def _link(self, config: ProviderConfig, identity: VerifiedIdentity, account: Account, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.ACCOUNT_LINKED,
            actor=Actor.system("idp:" + config.name),
            request=request,
            account=account.username,
            reason="federated_first_signin",
            detail={"provider": config.name},
        )
        self.links.link(account.username, identity.issuer, identity.subject, config.name)

    def _usable(self, account: Account, request: RequestInfo) -> Account:
        if account.status is Status.TERMINATED:
            raise FederatedSignInRefused("terminated")
        if account.is_locked(self.settings.lockout_threshold):
            raise FederatedSignInRefused("locked")
        if account.status is Status.INVITED:
            self.links.activate_invited(account.username)  # the provider proved the invited address
            return self.accounts.require(account.username)
        return account

    def _terminate(self, account: Account, request: RequestInfo) -> None:
        self.audit.record(
            AuditEvent.ACCOUNT_TERMINATED,
            actor=Actor.system("idp:associates"),
            request=request,
            account=account.username,
            reason="idp_group_removed",
            detail={"sessions_ended": True},
        )
        self.accounts.terminate(account.username, by="idp:associates")

    def _session(self, config: ProviderConfig, account: Account, request: RequestInfo) -> SignedIn:
        if config.mfa_source == "sealpost":
            # Sealpost's own second factor follows, as after a password (MfaPolicy decides).
            return self.signin.begin_session(account, request, method="oidc", provider=config.name)
        self.signin.succeeded(account, request, method="oidc", second_factor="idp_amr", provider=config.name)
        secret, session = self.sessions.start(account, method="oidc", request=request)
        return SignedIn(account=account, session_secret=secret, session=session)

    def _refused(
        self, name: str, reason: str, provider_error: str | None, account: str | None, request: RequestInfo
    ) -> None:
        detail: dict[str, str | int | bool] = {"method": "oidc", "provider": name}
        if provider_error:
            detail["provider_error"] = provider_error
        self.audit.record(
            AuditEvent.SIGNIN_FAILED,
            actor=Actor.anonymous(),
            request=request,
            outcome=Outcome.FAILURE,
            account=account,
            reason=reason,
            detail=detail,
        )
