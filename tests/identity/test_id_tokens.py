"""chalicelib/identity/id_tokens.py against the real provider's tokens and keys: a good token passes;
tampered, expired, wrong-audience, wrong-nonce, unsigned (alg none), HMAC-signed (key confusion and a
real HS256 token) and other-issuer tokens are refused by name; a rotated signing key is picked up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from chalicelib.errors import IdTokenRefused
from chalicelib.identity.id_tokens import IdTokenVerifier
from tests.identity_provider import OTHER_SECRET, TestIdp, code_flow, signing_key
from tests.support import PORTAL_URL

REDIRECT = PORTAL_URL + "/auth/associates/callback"
NONCE = "the-nonce-of-this-sign-in"


def token_of(idp: TestIdp, **more: Any) -> str:
    return str(code_flow(idp, "ann", redirect_uri=REDIRECT, **more)["id_token"])


def verify(idp: TestIdp, token: str, *, verifier: IdTokenVerifier | None = None, **changed: str) -> Any:
    checks = {"issuer": idp.issuer, "client_id": "sealpost", "jwks_uri": idp.issuer + "/jwks", "nonce": NONCE}
    return (verifier or IdTokenVerifier()).verify(token, **{**checks, **changed})


def refused(idp: TestIdp, token: str, **changed: str) -> str:
    with pytest.raises(IdTokenRefused) as refusal:
        verify(idp, token, **changed)
    shown = f"{refusal.value} {refusal.value.reason} {refusal.value.check}"
    assert not [part for part in token.split(".") if len(part) > 12 and part in shown]  # no token text
    return refusal.value.check


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    signature = token.rsplit(".", 1)[1]
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False}), signature


def test_a_good_token_passes_with_its_claims(idp: TestIdp) -> None:
    identity = verify(idp, token_of(idp))
    assert (identity.issuer, identity.subject) == (idp.issuer, "ann")
    assert identity.amr == ("pwd", "otp")


def test_a_tampered_payload_is_refused(idp: TestIdp) -> None:
    header, claims, signature = parts(token_of(idp))
    forged = f"{b64(header)}.{b64({**claims, 'sub': 'boss'})}.{signature}"
    assert refused(idp, forged) == "signature"


def test_a_changed_signature_is_refused(idp: TestIdp) -> None:
    token = token_of(idp)
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    assert refused(idp, f"{head}.{payload}.{flipped}") == "signature"


def test_an_expired_token_is_refused(idp: TestIdp) -> None:
    token = token_of(idp)
    expires = datetime.fromtimestamp(parts(token)[1]["exp"], UTC)
    with time_machine.travel(expires + timedelta(seconds=61), tick=False):  # past the 60 s leeway
        assert refused(idp, token) == "expired"
    with time_machine.travel(expires + timedelta(seconds=30), tick=False):
        verify(idp, token)  # within the leeway for clock skew


def test_a_token_for_another_audience_is_refused(idp: TestIdp) -> None:
    token = token_of(idp, client_id="other-app", secret=OTHER_SECRET)
    assert refused(idp, token) == "audience"


def test_a_token_with_another_nonce_is_refused(idp: TestIdp) -> None:
    assert refused(idp, token_of(idp, nonce="a-nonce-of-another-sign-in")) == "nonce"


def test_a_token_of_another_issuer_is_refused(idp: TestIdp) -> None:
    assert refused(idp, token_of(idp), issuer="https://login.plan.example") == "issuer"


@pytest.mark.parametrize("with_kid", [True, False])
def test_an_unsigned_token_is_refused(idp: TestIdp, with_kid: bool) -> None:
    header, claims, _ = parts(token_of(idp))
    unsigned = {"alg": "none", **({"kid": header["kid"]} if with_kid else {})}
    assert refused(idp, f"{b64(unsigned)}.{b64(claims)}.") == "algorithm"


def test_an_hmac_token_signed_with_the_providers_public_key_is_refused(idp: TestIdp) -> None:
    # Key confusion: a verifier that let the token choose HS256 would check it with the public key.
    _, claims, _ = parts(token_of(idp))
    public = RSAAlgorithm.from_jwk(json.dumps(idp.keys[0])).public_key()  # type: ignore[union-attr]
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": idp.keys[0]["kid"]}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    signature = b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    assert refused(idp, f"{signing_input.decode()}.{signature}") == "algorithm"


def test_a_real_hs256_token_of_the_provider_is_refused(idp: TestIdp) -> None:
    token = token_of(idp, client_id="hs-app", secret=OTHER_SECRET)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert refused(idp, token, client_id="hs-app") == "algorithm"


def test_garbage_is_refused_as_malformed(idp: TestIdp) -> None:
    assert refused(idp, "not-a-token-at-all.nor-this.and-not-this") == "malformed"


def test_a_rotated_signing_key_is_picked_up(idp: TestIdp) -> None:
    verifier = IdTokenVerifier()  # one verifier all along: its cached keys are the old ones
    original = list(idp.keys)
    old_token = token_of(idp)
    verify(idp, old_token, verifier=verifier)
    new_key = signing_key("k2")
    try:
        idp.restart(keys=[new_key, *original])  # the new key first: it signs from now on
        rotated = token_of(idp)
        assert parts(rotated)[0]["kid"] == "k2"
        verify(idp, rotated, verifier=verifier)  # an unknown kid fetches the keys again, at once
        idp.restart(keys=[new_key])  # the old key retired
        verify(idp, token_of(idp), verifier=verifier)
        with pytest.raises(IdTokenRefused) as gone:
            verify(idp, old_token)  # a fresh verifier (a new container) no longer knows the old key
        assert gone.value.check == "signing_key"
    finally:
        idp.restart(keys=original)
