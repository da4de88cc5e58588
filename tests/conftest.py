"""Shared fixtures: fake credentials, an in-process moto stack built from infra/template.yaml,
Chalice's test client, and a seeded associate."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from chalice.test import Client
from moto import mock_aws

from chalicelib.accounts.model import Account
from chalicelib.audit.digest import DigestWriter, SigningKey
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, AuditRecord, RequestInfo
from chalicelib.audit.store import AuditStore
from chalicelib.wiring import services as services_module
from chalicelib.wiring.services import Services
from devtools.provision import Provisioned, Provisioner
from devtools.seed import seed_associate
from tests.support import DEMO_PASSWORD, DOWNLOADS_URL, PORTAL_URL, ROOT, SECOND_FACTORS, WebClient

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
    SECOND_FACTORS.clear()
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
        # Associates sign in with a password in these tests, as in local mode (the OpenID tests: tests/identity).
        parameters = {"PortalUrl": PORTAL_URL, "AssociatePasswordSignIn": "true"}
        provisioned = Provisioner().provision("sealpost-test", parameters=parameters)
        for name, value in provisioned.environment.items():
            monkeypatch.setenv(name, value)
        # The API function's own variable (the streaming download function's URL).
        monkeypatch.setenv("SEALPOST_DOWNLOAD_URL", DOWNLOADS_URL)
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


PARTNER_PASSWORD = "partner chooses a long passphrase"


@pytest.fixture
def make_partner(stack: Stack, associate: Account, new_browser: Any) -> Any:
    """Create a registered business-partner account the way the product does: an associate creates
    it, the partner follows the invitation link and chooses a password. Returns the account."""
    from tests.support import link_in, sent_mail

    def make(email: str = "bob@clinic.example", password: str = PARTNER_PASSWORD) -> Account:
        admin = new_browser()
        assert admin.sign_in(associate.username, DEMO_PASSWORD).status == 200
        created = admin.post("/api/accounts", json_body={"email": email, "display_name": "Bob Partner"})
        assert created.status == 201, created.text
        username = created.json["account"]["username"]
        invitation = next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == email)
        token = link_in(invitation, "/register/").rsplit("/", 1)[1]
        partner = new_browser()
        registered = partner.post("/api/register", json_body={"token": token, "password": password})
        assert registered.status == 201, registered.text
        enrolled = partner.second_factor(registered, email)  # MfaPolicy=required: the TOTP app is set up now
        assert enrolled.status in (200, 201), enrolled.text
        account = stack.services().accounts.get(username)
        assert account is not None
        return account

    return make


@pytest.fixture
def partner(make_partner: Any) -> Account:
    return make_partner()


# --- faults -------------------------------------------------------------------------------


@pytest.fixture
def kms_fault(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make KMS data-key calls fail as a throttled or unreachable KMS does, at the HTTP layer below the SDK."""
    import botocore.session
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import EndpointConnectionError

    from chalicelib.wiring import services as services_module

    real_session = botocore.session.get_session

    def start(kind: str) -> None:
        def throttle(**_: Any) -> Any:
            body = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            return AWSResponse("https://kms", 400, {}, None), body

        def unreachable(**_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com")

        def faulty_session() -> Any:
            session = real_session()
            events = session.get_component("event_emitter")
            for operation in ("GenerateDataKey", "Decrypt"):
                if kind == "throttled":
                    events.register_first(f"before-call.kms.{operation}", throttle)
                else:
                    events.register_first(f"before-send.kms.{operation}", unreachable)
            return session

        monkeypatch.setattr(botocore.session, "get_session", faulty_session)
        services_module.reset()  # a fresh Lambda container: no cached data keys

    return start


# --- the audit trail --------------------------------------------------------------------

# The template's resources the audit trail needs. Tests of the trail alone use only these
# (`audit_stack`), which is much quicker to build than the whole `stack`.
AUDIT_RESOURCES = ("DataKey", "AuditSigningKey", "AuditSigningKeyAlias", "AuditBucket")
ALICE = Actor("alice@plan.example", "associate")


@dataclass
class AuditStack:
    audit_bucket: str
    env: dict[str, str]

    def client(self, service: str) -> Any:
        # One client per service and test, from boto3's default session (its service models stay loaded).
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name="us-east-1")
        return self._clients[service]

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.audit_bucket, self.env["SEALPOST_KMS_KEY_ARN"], lambda: self.client("s3"))

    def digests(self, minutes: int = 60, max_per_run: int = 24, store: AuditStore | None = None) -> DigestWriter:
        return DigestWriter(
            store or AuditStore(self.audit_bucket, lambda: self.client("s3")),
            SigningKey(self.env["SEALPOST_AUDIT_SIGNING_KEY_ARN"], lambda: self.client("kms")),
            data_key_arn=self.env["SEALPOST_KMS_KEY_ARN"],
            period_minutes=minutes,
            audit=self.audit,
            max_per_run=max_per_run,
        )


@pytest.fixture
def audit_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditStack]:
    """The audit bucket and keys of infra/template.yaml on in-process moto (see AUDIT_RESOURCES)."""
    with mock_aws():
        made = Provisioner().provision("sealpost-test", only=AUDIT_RESOURCES)
        env = {
            "SEALPOST_AUDIT_BUCKET": made.physical["AuditBucket"],
            "SEALPOST_KMS_KEY_ARN": made.attributes[("DataKey", "Arn")],
            "SEALPOST_AUDIT_SIGNING_KEY_ARN": made.attributes[("AuditSigningKey", "Arn")],
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        services_module.reset()
        yield AuditStack(env["SEALPOST_AUDIT_BUCKET"], env)


@pytest.fixture
def record_at(audit_stack: AuditStack) -> Callable[..., AuditRecord]:
    """Write one audit record as if at ``when`` (UTC): ``record_at("2026-03-04T05:10Z", AuditEvent.MESSAGE_SENT,
    message_id="m1")``."""

    def write(
        when: str, event: AuditEvent = AuditEvent.ACCESS_DENIED, actor: Actor = ALICE, **fields: Any
    ) -> AuditRecord:
        with time_machine.travel(when, tick=False):
            request = RequestInfo("req-test", "192.0.2.10", "pytest-browser/1.0")
            return audit_stack.audit.record(event, actor=actor, request=request, **fields)

    return write


@dataclass
class CliRun:
    code: int
    out: str
    err: str


@pytest.fixture
def audit_cli(audit_stack: AuditStack) -> Callable[..., CliRun]:
    """Run ``sealpost-audit`` in-process against the audit bucket and signing key, at time ``at`` if given."""
    from chalicelib.audit.cli import main

    def run(*args: str, at: str | None = None) -> CliRun:
        out, err = io.StringIO(), io.StringIO()
        key = audit_stack.env["SEALPOST_AUDIT_SIGNING_KEY_ARN"]
        with time_machine.travel(at, tick=False) if at else nullcontext():
            argv = ["--bucket", audit_stack.audit_bucket, "--signing-key", key, *args]
            code = main(argv, out=out, err=err, clients=lambda service, _region: audit_stack.client(service))
        return CliRun(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def admin_cli(stack: Stack, tmp_path: Path) -> Callable[..., CliRun]:
    """Run ``sealpost-admin`` in-process against the stack, its settings in a file as `make run` writes them
    (``--env-file``); ``changed`` replaces some of those settings (e.g. an audit bucket that does not exist)."""
    import json

    from chalicelib.commands.admin_cli import main

    def run(*args: str, changed: dict[str, str] | None = None) -> CliRun:
        env_file = tmp_path / "admin-env.json"
        env_file.write_text(json.dumps({**stack.env, "AWS_REGION": "us-east-1", **(changed or {})}))
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), *args], out=out, err=err)
        return CliRun(code, out.getvalue(), err.getvalue())

    return run


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20) -> None:
    import socket
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def server_on_a_free_port(command: Callable[[int], list[str]]) -> Iterator[str]:
    """Start ``command(port)`` on a free port of 127.0.0.1; yields its URL and stops it afterwards."""
    import subprocess

    port = free_port()
    process = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    """A real DynamoDB engine (dynalite from npm, LevelDB in memory) on 127.0.0.1, for races."""
    cli = ROOT / "node_modules" / "dynalite" / "cli.js"
    if not cli.exists():
        pytest.fail("dynalite is not installed: run `make test` (it runs `npm ci`)")
    command = lambda port: ["node", str(cli), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0"]  # noqa: E731
    with server_on_a_free_port(command) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def merged_package(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The deployable template as `make package` builds it (tests/packaging.py), once per session."""
    from tests.packaging import build_package

    return build_package(tmp_path_factory.mktemp("merged-package"))


@dataclass
class Conversation:
    """An associate and a registered partner sharing one thread."""

    associate: WebClient
    partner: WebClient
    partner_username: str
    thread_id: str
    first_message_id: str

    def thread(self, web: WebClient | None = None) -> dict[str, Any]:
        reply = (web or self.partner).get(f"/api/threads/{self.thread_id}")
        assert reply.status == 200, reply.text
        return dict(reply.json)


def register_from_invitation(browser: WebClient, email: str, password: str = PARTNER_PASSWORD) -> str:
    """Follow the newest invitation or first pickup link mailed to ``email``; returns the user name and
    leaves ``browser`` signed in."""
    import re

    from tests.support import PORTAL_URL, mail_text, sent_mail

    mail = next(m for m in reversed(sent_mail()) if m["To"].addresses[0].addr_spec == email)
    found = re.search(re.escape(PORTAL_URL) + r"/(register|p)/([A-Za-z0-9_\-]{43})", mail_text(mail))
    assert found, "no invitation or pickup link in the mail"
    kind, token = found.groups()
    path = "/api/register" if kind == "register" else f"/api/pickup/{token}/register"
    registered = browser.post(path, json_body={"token": token, "password": password})
    assert registered.status == 201, registered.text
    browser.csrf_token = registered.json["csrf_token"]
    # MfaPolicy=required: the new partner sets up a TOTP app (or, in the thread scope, gives the code of
    # the app this address already has) before anything else.
    signed_in = browser.second_factor(registered, email)
    assert signed_in.status in (200, 201), signed_in.text
    return str(signed_in.json["username"])


@pytest.fixture
def start_thread(associate_web: WebClient) -> Any:
    def start(
        recipients: list[str], subject: str = "Claim 4471 status", text: str = "Please review.", **extra: Any
    ) -> Any:
        reply = associate_web.post(
            "/api/threads", json_body={"recipients": recipients, "subject": subject, "text": text, **extra}
        )
        assert reply.status == 201, reply.text
        return reply.json

    return start


@pytest.fixture
def conversation(associate_web: WebClient, new_browser: Any, start_thread: Any) -> Conversation:
    sent = start_thread(["dana@clinic.example"], subject="Prior authorization for patient 7", text="Details inside.")
    partner = new_browser()
    username = register_from_invitation(partner, "dana@clinic.example")
    return Conversation(associate_web, partner, username, sent["thread"]["thread_id"], sent["message_id"])


@pytest.fixture(scope="session")
def mail_peers() -> Iterator[Any]:
    """Real DNS, SMTP and HTTPS peers on 127.0.0.1 for the email gateway (see tests/mail_peers.py)."""
    from tests.mail_peers import MailPeers

    with MailPeers.running() as peers:
        yield peers


class RecordFailed(Exception):
    """A queue record the function reported in ``batchItemFailures`` (it would be received again)."""


@dataclass
class Gateway:
    """The email gateway under test: raw MIME in, SES requests and mail out."""

    stack: Stack
    client: Client
    ses_requests: list[dict[str, Any]]

    def inbound(
        self,
        raw: bytes,
        *,
        source: str = "alice@plan.example",
        ses_id: str | None = None,
        verdicts: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store ``raw`` as SES's receipt rule would, and deliver the SNS notification to the router."""
        return self.deliver("route_inbound_mail", self.stored(raw, source=source, ses_id=ses_id, verdicts=verdicts))

    def stored(
        self,
        raw: bytes,
        *,
        source: str = "alice@plan.example",
        ses_id: str | None = None,
        verdicts: dict[str, str] | None = None,
    ) -> str:
        """Store ``raw`` as SES's receipt rule would; returns the notification SES publishes for it."""
        import json
        import uuid

        ses_id = ses_id or uuid.uuid4().hex
        key = f"inbound/{ses_id}"
        bucket = self.stack.env["SEALPOST_INBOUND_BUCKET"]
        self.stack.client("s3").put_object(Bucket=bucket, Key=key, Body=raw)
        status = {"spf": "PASS", "dkim": "PASS", "dmarc": "PASS", "spam": "PASS", "virus": "PASS", **(verdicts or {})}
        notification = {
            "notificationType": "Received",
            "mail": {
                "messageId": ses_id,
                "source": source,
                "destination": [self.stack.env["SEALPOST_GATEWAY_ADDRESS"]],
            },
            "receipt": {
                "recipients": [self.stack.env["SEALPOST_GATEWAY_ADDRESS"]],
                **{f"{name}Verdict": {"status": value} for name, value in status.items()},
                "action": {"type": "S3", "bucketName": bucket, "objectKey": key, "topicArn": "arn:aws:sns:x"},
            },
        }
        return json.dumps(notification)

    def deliver(self, function: str, message: str) -> dict[str, Any]:
        """``message`` (what SES published) as the one record of a queue batch, as Lambda's SQS
        event source hands it to ``function``; a record the function reports failed raises."""
        event = self.client.events.generate_sqs_event(message_bodies=[message], queue_name=function)
        payload = dict(self.client.lambda_.invoke(function, event).payload)
        if payload["batchItemFailures"]:
            raise RecordFailed(function)
        return dict(payload["results"][0])

    def sent(self, *, configuration_set: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.ses_requests
            if configuration_set is None or r.get("ConfigurationSetName") == configuration_set
        ]

    @property
    def tls_set(self) -> str:
        return self.stack.env["SEALPOST_TLS_CONFIGURATION_SET"]


@pytest.fixture
def gateway(stack: Stack, chalice_client: Client, mail_peers: Any, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """TLS decisions wired to the local DNS/SMTP/HTTPS peers, and every SES send recorded."""
    from chalicelib import aws_clients
    from chalicelib.gateway.dns_lookup import DnsPythonLookup
    from chalicelib.gateway.mta_sts import HttpsPolicyFetcher, MtaStsLookup
    from chalicelib.gateway.tls_decision import TlsDecider, TlsDecisionCache, TlsDecisions
    from chalicelib.gateway.tls_probe import StartTlsProbe
    from chalicelib.settings import Settings
    from chalicelib.wiring import services as services_module

    def peers_decisions(settings: Settings, **_: Any) -> TlsDecisions:
        dns = DnsPythonLookup(mail_peers.dns.resolver(), timeout=0.5)
        decider = TlsDecider(
            dns,
            StartTlsProbe(context=mail_peers.client_context(), connector=mail_peers.connector, timeout=5),
            MtaStsLookup(dns, HttpsPolicyFetcher(context=mail_peers.client_context(), connector=mail_peers.connector)),
            ttl_seconds=settings.tls_cache_seconds,
        )
        table = lambda: aws_clients.dynamodb_table(settings.gateway_table, settings.region)  # noqa: E731
        return TlsDecisions(decider, TlsDecisionCache(table))

    monkeypatch.setattr(services_module, "from_settings", peers_decisions)
    services_module.reset()
    recorded: list[dict[str, Any]] = []
    aws_clients.sesv2("us-east-1").meta.events.register(
        "before-parameter-build.sesv2.SendEmail", lambda params, **_: recorded.append(dict(params))
    )
    return Gateway(stack, chalice_client, recorded)


def sqs_event(received: list[dict[str, Any]], queue_name: str) -> dict[str, Any]:
    """Messages from ``receive_message`` as Lambda's SQS event source hands them to a function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue_name}",
                "awsRegion": "us-east-1",
            }
            for message in received
        ]
    }


@pytest.fixture
def deliver_account_mail(stack: Stack, chalice_client: Client) -> Callable[[], list[dict[str, Any]]]:
    """Play Lambda's SQS event source for the account-mail queue until it is empty: the forgot-password
    requests waiting there go to ``send_account_mail`` in batches, the records it handled are deleted.
    Returns its results; a record it reports failed raises ``RecordFailed`` (it stays in the queue)."""

    def deliver() -> list[dict[str, Any]]:
        sqs = stack.client("sqs")
        url = stack.env["SEALPOST_ACCOUNT_MAIL_QUEUE"]
        results: list[dict[str, Any]] = []
        while received := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        ):
            event = sqs_event(received, url.rsplit("/", 1)[1])
            payload = dict(chalice_client.lambda_.invoke("send_account_mail", event).payload)
            failed = {f["itemIdentifier"] for f in payload["batchItemFailures"]}
            for message in received:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if failed:
                raise RecordFailed("send_account_mail")
            results += payload["results"]
        return results

    return deliver


# --- the OpenID provider of the sign-in tests ---------------------------------------------


@pytest.fixture(scope="session")
def portal_port() -> int:
    """The browser portal's port, chosen first: the OpenID provider must know its redirect URI."""
    return free_port()


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory, portal_port: int) -> Iterator[Any]:
    """A real OpenID provider (npm's oidc-provider, tests/identity_provider.py) on 127.0.0.1, once per
    session: its redirect URIs are the in-process portal's and the browser portal's (on ``localhost``,
    another site than the provider's 127.0.0.1)."""
    from tests.identity_provider import associates_idp

    provider = associates_idp(tmp_path_factory.mktemp("idp"), [PORTAL_URL, f"http://localhost:{portal_port}"])
    with provider:
        yield provider


# --- the portal in a real browser ---------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class Portal:
    """Sealpost as `make run` serves it (devtools/run_local.py), on free ports of 127.0.0.1."""

    url: str
    moto_endpoint: str
    partner_username: str
    partner_password: str

    def mail_link(self, address: str, path: str, *, newer_than: int = 0, seconds: float = 60) -> str:
        """The newest link ``<portal><path><token>`` mailed to ``address`` (read from moto's SES)."""
        import re
        import time

        from devtools.local_mail import captured_mail

        pattern = re.compile(re.escape(self.url + path) + r"[A-Za-z0-9_\-]{43}")
        deadline = time.monotonic() + seconds
        while True:
            mails = captured_mail(self.moto_endpoint)
            for mail in mails[: max(len(mails) - newer_than, 0)]:
                found = pattern.search(mail.text)
                if address in mail.recipients and found:
                    return found.group(0)[len(self.url) :]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {path} link was mailed to {address}")
            time.sleep(0.5)

    def mail_count(self) -> int:
        from devtools.local_mail import captured_mail

        return len(captured_mail(self.moto_endpoint))


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """`make run`'s launcher, started once per test session (per xdist worker that needs it)."""
    with launched_portal(tmp_path_factory.mktemp("portal"), free_port()) as launched:
        yield launched


@contextmanager
def launched_portal(folder: Path, app_port: int, **more_env: str) -> Iterator[Portal]:
    """`make run`'s launcher on ``app_port`` with ``more_env`` (LOCAL_HOSTNAME, LOCAL_IDP_...) set."""
    import re
    import signal
    import subprocess
    import sys
    import time

    moto_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEALPOST_"))}
    env.update(PORT=str(app_port), MOTO_PORT=str(moto_port), **more_env)
    log = folder / "run_local.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run_local"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300
        while "Sealpost is running" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("make run's launcher did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        found = re.search(r"demo partner:\s+(\S+)\s+/\s+(.+)$", log.read_text(), re.MULTILINE)
        assert found, log.read_text()
        yield Portal(
            url=f"http://{more_env.get('LOCAL_HOSTNAME', '127.0.0.1')}:{app_port}",
            moto_endpoint=f"http://127.0.0.1:{moto_port}",
            partner_username=found.group(1),
            partner_password=found.group(2).strip(),
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``screenshots(page, "signed-in")`` saves a full-page PNG under test-artifacts/<test>/ (git-ignored)."""
    folder = ARTIFACTS / request.node.name
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(page: Any, name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take
