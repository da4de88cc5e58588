"""The JSON twins of the second-factor pages (chalicelib/web/second_factor.py) under
``/api/session/second-factor``: the step after the password, enrolment of an authenticator app or a
passkey, recovery codes, removing one's factors. The pending session's CSRF token goes in the header.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response

from chalicelib.accounts.model import Account
from chalicelib.accounts.sessions import ENROL, Principal
from chalicelib.errors import AuthenticationRequired, NotFound
from chalicelib.web.http.guard import authenticate, changing_json
from chalicelib.web.http.incoming import Incoming, text_field
from chalicelib.web.http.responses import json_response, signed_in_json
from chalicelib.web.http.routing import Routes
from chalicelib.web.second_factor import pending_session
from chalicelib.wiring.services import Services

routes = Routes(__name__)

API = "/api/session/second-factor"


@routes.route(API, "GET")
def api_status(incoming: Incoming, services: Services) -> Response:
    try:
        pending = pending_session(incoming, services)
        account, stage = pending.account, pending.stage
    except AuthenticationRequired:
        account, stage = authenticate(incoming, services).account, "full"
    factors = services.second_factor.factor_set(account)
    return json_response(
        {
            "stage": stage,
            "policy": services.settings.mfa_policy,
            "totp": factors.has_totp,
            "passkeys": len(factors.passkeys),
            "recovery_codes_left": factors.recovery_left,
        }
    )


@routes.route(API, "POST")
def api_verify(incoming: Incoming, services: Services) -> Response:
    body = incoming.json_object(services.settings.max_json_bytes)
    pending = pending_session(incoming, services)
    signed_in = services.second_factor.verify(pending, text_field(body, "code", max_length=64), incoming.info())
    return signed_in_json(signed_in)


@routes.route(API + "/passkey/options", "POST")
def api_passkey_options(incoming: Incoming, services: Services) -> Response:
    """The options for ``navigator.credentials.get`` (a new challenge), for the step after the password."""
    incoming.json_object(services.settings.max_json_bytes)
    pending = pending_session(incoming, services)
    options = services.passkeys.sign_in_options(pending, services.second_factor.factor_set(pending.account))
    if options is None:
        raise NotFound("No passkey is set up for this account: use a code.")
    return json_response({"options": json.loads(options)})


@routes.route(API + "/passkey", "POST")
def api_verify_passkey(incoming: Incoming, services: Services) -> Response:
    body = incoming.json_object(services.settings.max_json_bytes)
    pending = pending_session(incoming, services)
    return signed_in_json(services.passkeys.verify(pending, body.get("credential"), incoming.info()))


def _api_enroller(incoming: Incoming, services: Services) -> tuple[Account, Any, dict[str, Any]]:
    try:
        pending = pending_session(incoming, services)
    except AuthenticationRequired:
        principal, body = changing_json(incoming, services)
        return principal.account, principal, body
    if pending.stage != ENROL:
        raise AuthenticationRequired()
    return pending.account, pending, incoming.json_object(services.settings.max_json_bytes)


@routes.route(API + "/enrolment", "POST")
def api_offer(incoming: Incoming, services: Services) -> Response:
    account, _who, _body = _api_enroller(incoming, services)
    offer = services.second_factor.offer(account)
    return json_response(
        {"secret": offer.seed_grouped.replace(" ", ""), "secret_grouped": offer.seed_grouped, "otpauth_uri": offer.uri},
        status=201,
    )


@routes.route(API + "/enrolment/confirm", "POST")
def api_confirm(incoming: Incoming, services: Services) -> Response:
    account, who, body = _api_enroller(incoming, services)
    code = text_field(body, "code", max_length=64)
    if isinstance(who, Principal):
        proof = text_field(body, "proof", required=False, max_length=1024)
        services.second_factor.replace(who, proof, code, incoming.info())
    else:
        services.second_factor.confirm(account, code, incoming.info())
    if isinstance(who, Principal):
        codes = services.second_factor.recovery_codes(account, incoming.info(), due_only=True)
        return json_response({"enrolled": True, "recovery_codes": codes})
    signed_in = services.second_factor.finish_enrolment(who, incoming.info())
    codes = services.second_factor.recovery_codes(signed_in.account, incoming.info(), due_only=True)
    return signed_in_json(signed_in, enrolled=True, recovery_codes=codes)


@routes.route(API + "/skip", "POST")
def api_skip(incoming: Incoming, services: Services) -> Response:
    incoming.json_object(services.settings.max_json_bytes)
    signed_in = services.second_factor.skip(pending_session(incoming, services), incoming.info())
    return signed_in_json(signed_in)


@routes.route(API + "/recovery-codes", "POST")
def api_regenerate_recovery_codes(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services)
    proof = text_field(body, "proof", max_length=1024)
    codes = services.second_factor.regenerate_recovery_codes(principal, proof, incoming.info())
    return json_response({"recovery_codes": codes}, status=201)


@routes.route(API + "/remove", "POST")
def api_remove(incoming: Incoming, services: Services) -> Response:
    principal, body = changing_json(incoming, services)
    services.second_factor.remove(principal, text_field(body, "proof", max_length=1024), incoming.info())
    return json_response({"removed": True})


@routes.route(API + "/passkeys/options", "POST")
def api_passkey_registration_options(incoming: Incoming, services: Services) -> Response:
    """The options for ``navigator.credentials.create``: while enrolling, or signed in to add one."""
    account, who, _body = _api_enroller(incoming, services)
    return json_response(
        {
            "options": json.loads(
                services.passkeys.registration_options(account, who.session, services.second_factor.factor_set(account))
            )
        }
    )


@routes.route(API + "/passkeys", "POST")
def api_register_passkey(incoming: Incoming, services: Services) -> Response:
    account, who, body = _api_enroller(incoming, services)
    credential = body.get("credential")
    if isinstance(who, Principal):
        proof = text_field(body, "proof", required=False, max_length=1024)
        services.passkeys.add(who, proof, credential, incoming.info())
        codes = services.second_factor.recovery_codes(account, incoming.info(), due_only=True)
        return json_response({"enrolled": True, "recovery_codes": codes}, status=201)
    services.passkeys.register(account, who.session, credential, incoming.info())
    signed_in = services.second_factor.finish_enrolment(who, incoming.info(), "passkey")
    codes = services.second_factor.recovery_codes(signed_in.account, incoming.info(), due_only=True)
    return signed_in_json(signed_in, 201, enrolled=True, recovery_codes=codes)
