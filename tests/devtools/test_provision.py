"""devtools/provision.py's Secrets Manager secrets (moto's CloudFormation lacks them), and the local
stack's parameters devtools/run_local.py gives it (password sign-in, the OpenID provider if asked)."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from devtools.provision import Provisioner, load_template
from devtools.run_local import put_idp_secret, stack_parameters


def test_the_idp_secrets_are_made_only_with_their_provider_under_the_data_key() -> None:
    with mock_aws():
        without = Provisioner().provision("sealpost-test", parameters={"PortalUrl": "https://portal.test"})
        assert "AssociateIdpClientSecret" not in without.physical
        assert without.environment["SEALPOST_ASSOCIATE_IDP_SECRET_ARN"] == ""
    with mock_aws():
        provisioner = Provisioner()
        made = provisioner.provision(
            "sealpost-test", parameters={"PortalUrl": "https://portal.test", "AssociateIdpIssuer": "https://idp.test"}
        )
        arn = made.environment["SEALPOST_ASSOCIATE_IDP_SECRET_ARN"]
        assert (
            arn == made.physical["AssociateIdpClientSecret"]
            and made.environment["SEALPOST_PARTNER_IDP_SECRET_ARN"] == ""
        )
        secrets = provisioner.client("secretsmanager")
        described = secrets.describe_secret(SecretId=arn)
        template = load_template()["Resources"]["AssociateIdpClientSecret"]["Properties"]
        assert described["Name"] == "sealpost-test/associate-idp-client-secret"
        assert described["KmsKeyId"] == made.attributes[("DataKey", "Arn")]
        placeholder = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
        assert set(placeholder) == {"client_secret"} and len(placeholder["client_secret"]) >= 48
        assert template["GenerateSecretString"]["GenerateStringKey"] == "client_secret"
        # `make run` puts the local provider's secret, as the runbook does in a deployment.
        put_idp_secret(provisioner, made.environment, {"LOCAL_IDP_CLIENT_SECRET": "local-secret"})
        assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == {"client_secret": "local-secret"}


def test_make_run_signs_associates_in_by_password_and_connects_a_provider_only_when_told() -> None:
    plain = stack_parameters("http://127.0.0.1:8000", {})
    assert plain == {"PortalUrl": "http://127.0.0.1:8000", "AssociatePasswordSignIn": "true"}
    told = stack_parameters(
        "http://localhost:8000",
        {"LOCAL_IDP_ISSUER": "http://127.0.0.1:4000", "LOCAL_IDP_CLIENT_ID": "sealpost", "LOCAL_IDP_MFA": "sealpost"},
    )
    assert told["AssociateIdpIssuer"] == "http://127.0.0.1:4000" and told["AssociateIdpClientId"] == "sealpost"
    assert told["AssociateIdpMfa"] == "sealpost" and "AssociateIdpAdminGroup" not in told


def test_make_run_passes_the_sealpost_settings_it_is_given_as_the_stacks_parameters() -> None:
    given = {"SEALPOST_CREDENTIAL_SCOPE": "thread", "SEALPOST_LOCKOUT_THRESHOLD": "5", "HOME": "/root"}
    parameters = stack_parameters("http://127.0.0.1:8000", given)
    assert parameters["CredentialScope"] == "thread" and parameters["LockoutThreshold"] == "5"
    with mock_aws():
        made = Provisioner().provision("sealpost-test", parameters=parameters)
    assert made.environment["SEALPOST_CREDENTIAL_SCOPE"] == "thread"


def test_make_run_refuses_a_setting_value_the_template_does_not_allow() -> None:
    expected = r"SEALPOST_CREDENTIAL_SCOPE='threads' is not allowed; use one of: recipient, thread"
    with pytest.raises(SystemExit, match=expected):
        stack_parameters("http://127.0.0.1:8000", {"SEALPOST_CREDENTIAL_SCOPE": "threads"})


def test_make_run_says_which_sealpost_variables_it_cannot_take(capsys: pytest.CaptureFixture[str]) -> None:
    given = {"SEALPOST_CREDENTIALS_SCOPE": "thread", "SEALPOST_AUDIT_BUCKET": "b", "SEALPOST_PORTAL_URL": "https://x"}
    parameters = stack_parameters("http://127.0.0.1:8000", given)
    assert parameters == {"PortalUrl": "http://127.0.0.1:8000", "AssociatePasswordSignIn": "true"}
    err = capsys.readouterr().err
    assert "SEALPOST_CREDENTIALS_SCOPE is not a setting" in err and "SEALPOST_AUDIT_BUCKET is not a setting" in err
    assert "SEALPOST_PORTAL_URL is set by make run itself; change it with PORT and LOCAL_HOSTNAME" in err
