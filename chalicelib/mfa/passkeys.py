"""Passkeys and security keys (WebAuthn) as a second factor: the two ceremonies, without storage.

The relying party is the portal: its host is the RP id and its URL the only origin accepted. User
verification is required (a PIN or a fingerprint on the authenticator), so a stolen key alone is
not a factor. Attestation is not asked for: the plan trusts any authenticator the person holds.
Every challenge is single use; the caller keeps it beside the pending session and passes it back.
A sign count that does not move forward (a cloned key) is refused by the library.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from chalicelib import clock
from chalicelib.mfa.factors import MAX_PASSKEYS

# A browser's answer is a few hundred bytes; anything far larger is not one.
MAX_RESPONSE_CHARS = 16 * 1024
CHALLENGE_BYTES = 32
TIMEOUT_MS = 120_000
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class PasskeyRefused(Exception):
    """A browser's answer did not prove the passkey. ``check`` names why; it holds no response data."""

    def __init__(self, check: str) -> None:
        super().__init__(check)
        self.check = check


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str

    @classmethod
    def of_portal(cls, portal_url: str, name: str) -> RelyingParty:
        parts = urlsplit(portal_url)
        if not parts.hostname:
            raise ValueError("the portal URL has no host")
        return cls(rp_id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}", name=name)


@dataclass(frozen=True)
class Passkey:
    """One registered credential: its id and public key (both base64url), how often it signed, when."""

    credential_id: str
    public_key: str
    sign_count: int
    transports: tuple[str, ...]
    created_at: int
    last_used_at: int | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "credential_id": self.credential_id,
            "public_key": self.public_key,
            "sign_count": self.sign_count,
            "transports": list(self.transports),
            "created_at": self.created_at,
        }
        if self.last_used_at is not None:
            item["last_used_at"] = self.last_used_at
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Passkey:
        last_used = item.get("last_used_at")
        return cls(
            credential_id=str(item["credential_id"]),
            public_key=str(item["public_key"]),
            sign_count=int(item["sign_count"]),
            transports=tuple(str(t) for t in item.get("transports", [])),
            created_at=int(item["created_at"]),
            last_used_at=int(last_used) if last_used is not None else None,
        )

    def descriptor(self) -> PublicKeyCredentialDescriptor:
        return PublicKeyCredentialDescriptor(
            id=webauthn.base64url_to_bytes(self.credential_id),
            transports=[AuthenticatorTransport(t) for t in self.transports if t in _TRANSPORTS] or None,
        )


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    existing: Sequence[Passkey],
    challenge: bytes,
) -> str:
    """The options for ``navigator.credentials.create`` as JSON; an authenticator already registered is excluded."""
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[passkey.descriptor() for passkey in existing],
    )
    return webauthn.options_to_json(options)


def verify_registration(rp: RelyingParty, response: Any, challenge: bytes, existing: Sequence[Passkey]) -> Passkey:
    """The new passkey from the browser's answer to ``registration_options``, or ``PasskeyRefused``."""
    credential = _parsed(response)
    if len(existing) >= MAX_PASSKEYS:
        raise PasskeyRefused("too_many_passkeys")
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
        raise PasskeyRefused("registration_not_verified") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if any(passkey.credential_id == credential_id for passkey in existing):
        raise PasskeyRefused("already_registered")
    transports = credential.get("response", {}).get("transports", [])
    return Passkey(
        credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS)
        if isinstance(transports, list)
        else (),
        created_at=clock.epoch_seconds(),
    )


def authentication_options(rp: RelyingParty, passkeys: Sequence[Passkey], challenge: bytes) -> str:
    """The options for ``navigator.credentials.get`` as JSON, allowing only this person's passkeys."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[passkey.descriptor() for passkey in passkeys],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return webauthn.options_to_json(options)


def verify_authentication(rp: RelyingParty, response: Any, challenge: bytes, passkeys: Sequence[Passkey]) -> Passkey:
    """The passkey that signed ``challenge``, with its new sign count and use time; else ``PasskeyRefused``."""
    credential = _parsed(response)
    raw_id = credential.get("rawId") or credential.get("id")
    passkey = next((p for p in passkeys if p.credential_id == raw_id), None)
    if passkey is None:
        raise PasskeyRefused("unknown_passkey")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=webauthn.base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        raise PasskeyRefused("assertion_not_verified") from None
    return Passkey(
        credential_id=passkey.credential_id,
        public_key=passkey.public_key,
        sign_count=verified.new_sign_count,
        transports=passkey.transports,
        created_at=passkey.created_at,
        last_used_at=clock.epoch_seconds(),
    )


def _parsed(response: Any) -> dict[str, Any]:
    """The browser's ``PublicKeyCredential.toJSON()``, as a dict, from a JSON text or an object."""
    if isinstance(response, str):
        if len(response) > MAX_RESPONSE_CHARS:
            raise PasskeyRefused("malformed")
        try:
            response = json.loads(response)
        except ValueError:
            raise PasskeyRefused("malformed") from None
    if not isinstance(response, dict) or not isinstance(response.get("response"), dict):
        raise PasskeyRefused("malformed")
    if not isinstance(response.get("rawId", response.get("id")), str):
        raise PasskeyRefused("malformed")
    return response
