"""ID-token checks (OpenID Connect Core 3.1.3.7) with PyJWT and its JWK client: never by hand.

The algorithm allow-list is hard-coded and checked against the token's header *before* any key is
looked up (RFC 8725 2.1; PyJWT's own advice): ``none``, HMAC (whose key would be the client secret,
or the provider's public key in a key-confusion attack) and anything unknown are refused outright.
Then the signature with the provider's key for the token's ``kid`` (its JWKS, fetched again when an
unknown ``kid`` appears: that is how a rotated key is picked up), and the claims: issuer, audience,
expiry and issue time (60 s leeway), the nonce of this sign-in, and ``azp`` when there are several
audiences. A refusal is ``IdTokenRefused(check)``: the name of the failed check, never the token.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWKClient

from chalicelib.errors import IdentityProviderUnavailable, IdTokenRefused

ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "nonce"]


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a verified ID token says about the person (plus userinfo's claims, merged by the caller)."""

    issuer: str
    subject: str
    claims: dict[str, Any]

    @property
    def amr(self) -> tuple[str, ...]:
        value = self.claims.get("amr")
        return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass
class IdTokenVerifier:
    # A JWKS is fetched again at once for an unknown kid (no 30 s cool-down, PyJWKClient's default, which
    # refuses a freshly rotated key): tokens only come from the token endpoint over the back channel, so
    # nobody can make us fetch in a loop. Known keys are kept 5 minutes.
    key_lifespan_seconds: int = 300
    timeout_seconds: float = 10
    _clients: dict[str, PyJWKClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, token: str, *, issuer: str, client_id: str, jwks_uri: str, nonce: str) -> VerifiedIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.PyJWTError:
            raise IdTokenRefused("malformed") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise IdTokenRefused("algorithm")
        try:
            key = self._keys(jwks_uri).get_signing_key_from_jwt(token)
        except jwt.exceptions.PyJWKClientConnectionError:
            raise IdentityProviderUnavailable() from None
        except jwt.exceptions.PyJWTError:
            raise IdTokenRefused("signing_key") from None
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=client_id,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.exceptions.PyJWTError as problem:
            raise IdTokenRefused(_check_of(problem)) from None
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise IdTokenRefused("nonce")
        several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
        if (several or "azp" in claims) and claims.get("azp") != client_id:
            raise IdTokenRefused("azp")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise IdTokenRefused("subject")
        return VerifiedIdentity(issuer=issuer, subject=claims["sub"], claims=claims)

    def _keys(self, jwks_uri: str) -> PyJWKClient:
        with self._lock:
            client = self._clients.get(jwks_uri)
            if client is None:
                client = PyJWKClient(
                    jwks_uri,
                    cache_jwk_set=True,
                    lifespan=self.key_lifespan_seconds,
                    timeout=self.timeout_seconds,
                    cooldown_duration=0,
                )
                self._clients[jwks_uri] = client
            return client


def _check_of(problem: jwt.exceptions.PyJWTError) -> str:
    checks: tuple[tuple[type[Exception], str], ...] = (
        (jwt.exceptions.ExpiredSignatureError, "expired"),
        (jwt.exceptions.ImmatureSignatureError, "not_yet_valid"),
        (jwt.exceptions.InvalidIssuedAtError, "issued_at"),
        (jwt.exceptions.InvalidAudienceError, "audience"),
        (jwt.exceptions.InvalidIssuerError, "issuer"),
        (jwt.exceptions.MissingRequiredClaimError, "missing_claim"),
        (jwt.exceptions.InvalidSignatureError, "signature"),
        (jwt.exceptions.InvalidAlgorithmError, "algorithm"),
    )
    return next((name for kind, name in checks if isinstance(problem, kind)), "malformed")
