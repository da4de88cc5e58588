"""The state of one sign-in at a provider: ``state``, ``nonce`` and the PKCE verifier (S256), single use,
for 10 minutes, bound to the browser that started it.

The browser holds a random secret in the ``__Host-sealpost_oidc`` cookie (SameSite=Lax: the provider
sends the browser back with a cross-site navigation, which carries Lax cookies and not Strict ones).
The nonce and the verifier are derived from that secret and the state (HMAC-SHA256), so the sessions
table holds nothing that would complete a sign-in: ``OIDC#<sha256(state)>`` with the provider, the
page to go to afterwards and the SHA-256 of the browser's secret. The callback deletes the item with
a conditional DeleteItem: a replayed or forged callback finds nothing, before any call to the provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.accounts.tokens import looks_like_token, token_hash
from chalicelib.dynamo import is_conditional_failure, unavailable_on_outage
from chalicelib.errors import FederatedSignInRefused

COOKIE_NAME = "__Host-sealpost_oidc"
TTL_SECONDS = 600


def _derived(secret: str, purpose: str, state: str) -> str:
    digest = hmac.new(secret.encode(), f"sealpost-oidc-{purpose}|{state}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Begun:
    state: str
    nonce: str
    code_challenge: str
    browser_secret: str  # for the cookie
    new_cookie: bool


@dataclass(frozen=True)
class Transaction:
    provider: str
    next_path: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class TransactionStore:
    table_factory: Callable[[], Any]

    def begin(self, provider: str, next_path: str, browser_secret: str | None) -> Begun:
        """A new sign-in; ``browser_secret`` is the cookie's value if the browser has one (another tab)."""
        new_cookie = not (browser_secret and looks_like_token(browser_secret))
        secret = secrets.token_urlsafe(32) if new_cookie or browser_secret is None else browser_secret
        state = secrets.token_urlsafe(32)
        now = clock.epoch_seconds()
        with unavailable_on_outage("sessions"):
            self.table_factory().put_item(
                Item={
                    "pk": "OIDC#" + token_hash(state),
                    "kind": "oidc_transaction",
                    "provider": provider,
                    "next": next_path,
                    "browser": token_hash(secret),
                    "created_at": now,
                    "expires_at": now + TTL_SECONDS,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        return Begun(
            state=state,
            nonce=_derived(secret, "nonce", state),
            code_challenge=code_challenge(_derived(secret, "pkce", state)),
            browser_secret=secret,
            new_cookie=new_cookie,
        )

    def consume(self, state: str | None, browser_secret: str | None) -> Transaction:
        """The sign-in ``state`` belongs to, once: ``state_unknown`` for anything else."""
        if not state or not looks_like_token(state) or not browser_secret or not looks_like_token(browser_secret):
            raise FederatedSignInRefused("state_unknown")
        with unavailable_on_outage("sessions"):
            try:
                item = self.table_factory().delete_item(
                    Key={"pk": "OIDC#" + token_hash(state)},
                    ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_OLD",
                )["Attributes"]
            except Exception as exc:
                if is_conditional_failure(exc):
                    raise FederatedSignInRefused("state_unknown") from None
                raise
        fresh = clock.epoch_seconds() - int(item["created_at"]) < TTL_SECONDS  # TTL deletes only eventually
        if not fresh or not hmac.compare_digest(str(item["browser"]), token_hash(browser_secret)):
            raise FederatedSignInRefused("state_unknown")
        return Transaction(
            provider=str(item["provider"]),
            next_path=str(item["next"]),
            nonce=_derived(browser_secret, "nonce", state),
            code_verifier=_derived(browser_secret, "pkce", state),
        )
