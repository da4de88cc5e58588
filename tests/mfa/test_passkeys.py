"""The WebAuthn ceremonies: a passkey registers and signs in; every other answer is refused."""

from __future__ import annotations

import json

import pytest

from chalicelib.mfa import passkeys
from chalicelib.mfa.passkeys import Passkey, PasskeyRefused, RelyingParty
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url

RP = RelyingParty.of_portal("https://portal.plan.example", "Example Health")


def register(authenticator: SoftwareAuthenticator, existing: tuple[Passkey, ...] = ()) -> Passkey:
    challenge = passkeys.new_challenge()
    options = passkeys.registration_options(
        RP,
        user_handle=b"h" * 32,
        user_name="bob@clinic.example",
        display_name="Bob",
        existing=existing,
        challenge=challenge,
    )
    return passkeys.verify_registration(RP, authenticator.create(options), challenge, existing)


def sign_in(authenticator: SoftwareAuthenticator, keys: list[Passkey], **answer: object) -> Passkey:
    challenge = passkeys.new_challenge()
    options = passkeys.authentication_options(RP, keys, challenge)
    return passkeys.verify_authentication(RP, authenticator.get(options, **answer), challenge, keys)  # type: ignore[arg-type]


@pytest.fixture
def authenticator() -> SoftwareAuthenticator:
    return SoftwareAuthenticator(origin=RP.origin, rp_id=RP.rp_id)


def test_the_relying_party_is_the_portals_host_and_origin() -> None:
    rp = RelyingParty.of_portal("http://localhost:8123/some/path", "Plan")
    assert (rp.rp_id, rp.origin) == ("localhost", "http://localhost:8123")


def test_a_registered_passkey_signs_in_and_its_count_moves_on(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    assert key.credential_id == b64url(authenticator.credential_id) and key.transports == ("internal",)
    assert Passkey.from_item(key.to_item()) == key
    used = sign_in(authenticator, [key])
    assert used.sign_count == 1 and used.last_used_at is not None
    assert sign_in(authenticator, [used]).sign_count == 2


def test_options_require_user_verification_and_exclude_known_keys(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    options = json.loads(
        passkeys.registration_options(
            RP, user_handle=b"h" * 32, user_name="b", display_name="B", existing=[key], challenge=b"c" * 32
        )
    )
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [c["id"] for c in options["excludeCredentials"]] == [key.credential_id]
    request = json.loads(passkeys.authentication_options(RP, [key], b"c" * 32))
    assert request["userVerification"] == "required" and request["rpId"] == RP.rp_id


def test_an_assertion_for_another_challenge_is_refused(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    options = passkeys.authentication_options(RP, [key], passkeys.new_challenge())
    with pytest.raises(PasskeyRefused) as refused:
        passkeys.verify_authentication(RP, authenticator.get(options), passkeys.new_challenge(), [key])
    assert refused.value.check == "assertion_not_verified"


def test_an_assertion_from_another_origin_is_refused(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    with pytest.raises(PasskeyRefused):
        sign_in(authenticator, [key], origin="https://phish.example")


def test_a_replayed_sign_count_is_refused_as_a_cloned_key(authenticator: SoftwareAuthenticator) -> None:
    key = sign_in(authenticator, [register(authenticator)])
    with pytest.raises(PasskeyRefused):
        sign_in(authenticator, [key], count_up=False)


def test_another_persons_passkey_is_unknown(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    stranger = SoftwareAuthenticator(origin=RP.origin, rp_id=RP.rp_id)
    register(stranger)
    with pytest.raises(PasskeyRefused) as refused:
        sign_in(stranger, [key])
    assert refused.value.check == "unknown_passkey"


def test_a_key_without_user_verification_is_refused_at_registration_and_sign_in() -> None:
    unverified = SoftwareAuthenticator(origin=RP.origin, rp_id=RP.rp_id, user_verified=False)
    with pytest.raises(PasskeyRefused):
        register(unverified)
    key = register(verified := SoftwareAuthenticator(origin=RP.origin, rp_id=RP.rp_id))
    verified.user_verified = False
    with pytest.raises(PasskeyRefused):
        sign_in(verified, [key])


def test_registration_for_another_rp_or_challenge_is_refused(authenticator: SoftwareAuthenticator) -> None:
    challenge = passkeys.new_challenge()
    options = passkeys.registration_options(
        RP, user_handle=b"h" * 32, user_name="b", display_name="B", existing=(), challenge=challenge
    )
    with pytest.raises(PasskeyRefused):
        passkeys.verify_registration(RP, authenticator.create(options, rp_id="evil.example"), challenge, ())
    with pytest.raises(PasskeyRefused):
        passkeys.verify_registration(RP, authenticator.create(options), passkeys.new_challenge(), ())


def test_the_same_authenticator_is_not_registered_twice(authenticator: SoftwareAuthenticator) -> None:
    key = register(authenticator)
    with pytest.raises(PasskeyRefused) as refused:
        register(authenticator, existing=(key,))
    assert refused.value.check == "already_registered"


@pytest.mark.parametrize(
    "answer", ["", "not json", "[]", '{"id": 5, "response": {}}', '{"id": "x"}', "{" + " " * 20000 + "}", None, 7]
)
def test_a_misshapen_answer_is_refused_as_malformed(answer: object) -> None:
    with pytest.raises(PasskeyRefused) as refused:
        passkeys.verify_authentication(RP, answer, b"c" * 32, [])
    assert refused.value.check == "malformed"
