"""chalicelib/identity/client_secrets.py: the client secret comes from Secrets Manager (the template's
secret; the environment holds its ARN only), is kept 5 minutes, and is read again at once when the
provider refuses it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from chalicelib import aws_clients, clock
from chalicelib.errors import ConfigurationError
from chalicelib.identity.client_secrets import ClientSecret
from devtools.provision import load_template
from tests.conftest import Stack
from tests.identity.conftest import signed_in_as
from tests.identity_provider import CLIENT_SECRET
from tests.support import audit_events


def get_secret_value_calls(stack: Stack) -> list[str]:
    calls: list[str] = []
    client = aws_clients.secretsmanager(stack.services().settings.region)
    client.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", lambda params, **_: calls.append(params["SecretId"])
    )
    return calls


def put(stack: Stack, value: str) -> None:
    stack.client("secretsmanager").put_secret_value(
        SecretId=stack.env["SEALPOST_ASSOCIATE_IDP_SECRET_ARN"], SecretString=json.dumps({"client_secret": value})
    )


def test_the_client_secret_comes_from_secrets_manager_and_is_cached(
    stack: Stack, new_browser: Any, sign_in_with: Any
) -> None:
    calls = get_secret_value_calls(stack)
    assert sign_in_with(new_browser(), "ann").status == 200
    assert sign_in_with(new_browser(), "ann").status == 200
    assert calls == [stack.env["SEALPOST_ASSOCIATE_IDP_SECRET_ARN"]]  # read once for both
    put(stack, "not-the-secret-the-provider-knows-0123456789")
    with time_machine.travel(clock.now() + timedelta(seconds=301), tick=True):
        refused = sign_in_with(new_browser(), "ann")
    assert refused.status == 403 and len(calls) == 3  # expired, read; refused, read again once
    failed = audit_events(stack, "signin.failed")[-1]
    assert (failed["reason"], failed["detail"]["provider_error"]) == ("idp_error", "invalid_client")


def test_a_secret_the_provider_refuses_is_read_again_at_once(stack: Stack, new_browser: Any, sign_in_with: Any) -> None:
    put(stack, "an-old-secret-the-provider-no-longer-takes-0123")
    assert sign_in_with(new_browser(), "ann").status == 403  # now cached: the old one
    put(stack, CLIENT_SECRET)  # the operator puts the provider's new secret
    calls = get_secret_value_calls(stack)
    browser = new_browser()
    assert sign_in_with(browser, "ann").status == 200  # invalid_client, read again, signed in
    assert len(calls) == 1 and signed_in_as(browser) == "ann@plan.example"


def test_a_secret_of_the_wrong_shape_is_a_configuration_error() -> None:
    class Fake:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            return {"SecretString": "just-the-value"}

    with pytest.raises(ConfigurationError) as problem:
        ClientSecret("arn:aws:secretsmanager:us-east-1:1:secret:x", Fake).value()
    assert "just-the-value" not in str(problem.value)


def test_no_function_environment_holds_a_secret(stack: Stack) -> None:
    template = load_template()
    environments = [template["Globals"]["Function"]["Environment"]["Variables"]] + [
        spec["Properties"].get("Environment", {}).get("Variables", {})
        for spec in template["Resources"].values()
        if spec["Type"] == "AWS::Serverless::Function"
    ]
    secrets = {n for n, s in template["Resources"].items() if s["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == {"AssociateIdpClientSecret", "PartnerIdpClientSecret"}
    # No secret is a stack parameter either (it would sit in the stack's parameters and the environment).
    secret_parameters = {n for n, p in template["Parameters"].items() if p.get("NoEcho") or "Secret" in n}
    assert not secret_parameters
    for variables in environments:
        for name, value in variables.items():
            # Never a dynamic reference ({{resolve:secretsmanager:...}} copies the value into the function).
            assert "resolve:secretsmanager" not in json.dumps(value) and "resolve:ssm" not in json.dumps(value)
            assert not (isinstance(value, dict) and value.get("Ref") in secret_parameters), name
            if name.endswith("_SECRET_ARN"):
                _, secret, empty = value["Fn::If"][0], value["Fn::If"][1], value["Fn::If"][2]
                assert secret["Ref"] in secrets and empty == ""
    # What the functions got in this stack: the ARNs, and no secret value anywhere.
    for variable in ("SEALPOST_ASSOCIATE_IDP_SECRET_ARN", "SEALPOST_PARTNER_IDP_SECRET_ARN"):
        assert stack.env[variable].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:sealpost-test/")
    assert not [name for name, value in stack.env.items() if CLIENT_SECRET in value]
