"""The sign-in tests' stack: the in-process stack of tests/conftest.py with both OpenID providers
configured (the session's associates' provider, and a partners' provider of this package), their
client secrets in Secrets Manager, and local mode (the providers speak plain http on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from moto import mock_aws

from chalicelib.wiring import services as services_module
from devtools.provision import Provisioner
from tests.conftest import Stack
from tests.identity_provider import (
    ADMIN_GROUP,
    ASSOCIATE_GROUP,
    CLIENT_SECRET,
    MFA,
    PASSWORD,
    Redirected,
    TestIdp,
    client,
    redirect_uris,
    user,
)
from tests.support import DOWNLOADS_URL, PORTAL_URL, Reply, WebClient

PARTNER_SECRET = "sealpost-partner-client-secret-0123456789-abcdefgh"


@pytest.fixture(scope="session")
def partner_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestIdp]:
    """The partners' provider (a member or provider portal of the plan): another issuer."""
    provider = TestIdp(
        tmp_path_factory.mktemp("partner-idp"),
        clients=[client("sealpost-partners", PARTNER_SECRET, redirect_uris([PORTAL_URL], "partners"))],
        accounts={
            "bob": user(PASSWORD, "bob@clinic.example", amr=MFA),
            "stranger": user(PASSWORD, "stranger@clinic.example", amr=MFA),
            # The same subject as a person of the associates' provider, another person here.
            "shared": user(PASSWORD, "bob@clinic.example", amr=MFA),
            "ann": user(PASSWORD, "ann@plan.example", amr=MFA),
        },
    )
    with provider:
        yield provider


def idp_parameters(idp: TestIdp, partner_idp: TestIdp) -> dict[str, str]:
    return {
        "PortalUrl": PORTAL_URL,
        "AssociateIdpIssuer": idp.issuer,
        "AssociateIdpClientId": "sealpost",
        "AssociateIdpScopes": "openid email profile groups",
        "AssociateIdpAssociateGroup": ASSOCIATE_GROUP,
        "AssociateIdpAdminGroup": ADMIN_GROUP,
        "AssociateIdpMfa": "amr",
        "PartnerIdpIssuer": partner_idp.issuer,
        "PartnerIdpClientId": "sealpost-partners",
        "PartnerIdpMfa": "amr",
    }


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, idp: TestIdp, partner_idp: TestIdp) -> Iterator[Stack]:
    with mock_aws():
        provisioned = Provisioner().provision("sealpost-test", parameters=idp_parameters(idp, partner_idp))
        for name, value in provisioned.environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SEALPOST_DOWNLOAD_URL", DOWNLOADS_URL)
        monkeypatch.setenv("SEALPOST_LOCAL_MODE", "true")
        made = Stack(provisioned)
        secrets = made.client("secretsmanager")
        for variable, secret in (
            ("SEALPOST_ASSOCIATE_IDP_SECRET_ARN", CLIENT_SECRET),
            ("SEALPOST_PARTNER_IDP_SECRET_ARN", PARTNER_SECRET),
        ):
            secrets.put_secret_value(SecretId=made.env[variable], SecretString=json.dumps({"client_secret": secret}))
        services_module.reset()
        yield made


@pytest.fixture
def sign_in_with(idp: TestIdp, partner_idp: TestIdp) -> Callable[..., Reply]:
    """``sign_in_with(web, "ann")``: the browser ``web`` signs in through a provider as that person."""

    def run(web: WebClient, login: str, *, provider: str = "associates", password: str = PASSWORD) -> Reply:
        back = at_provider(web, login, provider=provider, password=password)
        return callback(web, back, provider)

    def at_provider(web: WebClient, login: str, *, provider: str, password: str) -> Redirected:
        started = web.get(f"/auth/{provider}/start")
        assert started.status == 302, started.text
        server = idp if provider == "associates" else partner_idp
        return server.log_in(
            started.header("location"), login, password, redirect_uri=f"{PORTAL_URL}/auth/{provider}/callback"
        )

    run.at_provider = at_provider  # type: ignore[attr-defined]
    return run


def callback(web: WebClient, back: Redirected, provider: str = "associates") -> Reply:
    """The provider's redirect back, as the browser follows it."""
    return web.get(f"/auth/{provider}/callback?{urlsplit(back.url).query}")


def signed_in_as(web: WebClient) -> Any:
    reply = web.get("/api/session")
    return reply.json["username"] if reply.status == 200 else None
