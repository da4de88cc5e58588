"""Shared fixtures: fake credentials, an in-process moto stack built from infra/template.yaml,
Chalice's test client, and a seeded associate."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import services as services_module
from chalicelib.accounts import Account
from chalicelib.services import Services
from devtools.provision import Provisioned, Provisioner
from devtools.seed import seed_associate
from tests.support import DEMO_PASSWORD, PORTAL_URL, WebClient

ROOT = Path(__file__).resolve().parent.parent

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and no endpoint override, so nothing can reach real AWS."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("SEALPOST_"):
            monkeypatch.delenv(name)
    services_module.reset()
    yield
    services_module.reset()


@dataclass
class Stack:
    provisioned: Provisioned

    @property
    def env(self) -> dict[str, str]:
        return self.provisioned.environment

    @property
    def audit_bucket(self) -> str:
        return self.env["SEALPOST_AUDIT_BUCKET"]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")

    def services(self) -> Services:
        return services_module.current()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        provisioned = Provisioner().provision("sealpost-test", parameters={"PortalUrl": PORTAL_URL})
        for name, value in provisioned.environment.items():
            monkeypatch.setenv(name, value)
        services_module.reset()
        yield Stack(provisioned)


@pytest.fixture
def chalice_client(stack: Stack) -> Iterator[Client]:
    from app import app

    with Client(app, project_dir=str(ROOT)) as client:
        yield client


@pytest.fixture
def web(chalice_client: Client) -> WebClient:
    """A fresh browser against the app."""
    return WebClient(chalice_client)


@pytest.fixture
def new_browser(chalice_client: Client) -> Any:
    """Make further independent browsers (another person, another device)."""
    return lambda: WebClient(chalice_client)


@pytest.fixture
def associate(stack: Stack) -> Account:
    return seed_associate(stack.services(), "alice@plan.example", DEMO_PASSWORD, "Alice Associate")


@pytest.fixture
def associate_web(web: WebClient, associate: Account) -> WebClient:
    reply = web.sign_in(associate.username, DEMO_PASSWORD)
    assert reply.status == 200, reply.text
    return web
