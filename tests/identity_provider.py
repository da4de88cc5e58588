"""A real OpenID provider on 127.0.0.1 for the sign-in tests: npm's ``oidc-provider`` (a certified
implementation) run by ``tests/idp/idp.mjs``, started and stopped by the tests.

``TestIdp`` writes the provider's configuration (clients, signing keys, accounts) to a file, starts
``node tests/idp/idp.mjs <file>`` on a free port with its output in a log file (it keeps printing
after it is ready: never an undrained pipe), waits for its ``READY`` line, and can restart on the same
port with other keys (key rotation). ``log_in`` drives its login form over HTTP as a browser would and
returns what the provider sends back to the redirect URI.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "idp" / "idp.mjs"
READY_SECONDS = 20


def signing_key(kid: str) -> dict[str, Any]:
    """A new private RS256 signing key as a JWK (the provider signs with the first one that fits)."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    return dict(key.as_dict(private=True))


def client(
    client_id: str,
    secret: str,
    redirect_uris: Sequence[str],
    *,
    post_logout_redirect_uris: Sequence[str] = (),
    **more: Any,
) -> dict[str, Any]:
    """A confidential web client of the code flow, authenticating with client_secret_basic."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        **more,
    }


def user(
    password: str,
    email: str,
    *,
    email_verified: bool | None = True,
    groups: Sequence[str] = (),
    amr: Sequence[str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An account of the provider (its key is the ``sub``); ``email_verified=None`` leaves the claim out."""
    found: dict[str, Any] = {"password": password, "email": email}
    if email_verified is not None:
        found["email_verified"] = email_verified
    found["groups"] = list(groups)
    if amr is not None:
        found["amr"] = list(amr)
    if name is not None:
        found["name"] = name
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Redirected:
    """What the provider sent the browser back to the redirect URI with."""

    url: str
    params: dict[str, str]

    @property
    def code(self) -> str:
        return self.params["code"]

    @property
    def state(self) -> str:
        return self.params["state"]


@dataclass
class TestIdp:
    """One oidc-provider process. ``with TestIdp(...) as idp:`` starts and stops it."""

    __test__ = False  # not a test class

    folder: Path
    clients: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    keys: list[dict[str, Any]] = field(default_factory=lambda: [signing_key("k1")])
    id_token_ttl: int | None = None
    enabled_jwa: dict[str, list[str]] | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "idp.log"

    def config(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "port": self.port,
            "host": "127.0.0.1",
            "clients": self.clients,
            "keys": self.keys,
            "accounts": self.accounts,
        }
        if self.id_token_ttl is not None:
            found["idTokenTtl"] = self.id_token_ttl
        if self.enabled_jwa is not None:
            found["enabledJWA"] = self.enabled_jwa
        return found

    def start(self) -> TestIdp:
        if not (ROOT / "node_modules" / "oidc-provider").exists():
            raise RuntimeError("oidc-provider is not installed: run `make test` (it runs `npm ci`)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        config = self.folder / f"idp-config-{self.starts}.json"
        config.write_text(json.dumps(self.config()))
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                ["node", str(SCRIPT), str(config)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        marker = f"--- start {self.starts}\n"
        deadline = time.monotonic() + READY_SECONDS
        while True:
            text = self.log.read_text(errors="replace")
            if f"READY {self.issuer}" in text[text.rindex(marker) :]:
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the test identity provider did not start:\n" + text[-3000:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self.process = None

    def restart(
        self,
        *,
        keys: list[dict[str, Any]] | None = None,
        accounts: Mapping[str, dict[str, Any]] | None = None,
    ) -> TestIdp:
        """The same provider (port, clients) with other signing keys or accounts. Its sessions and
        codes are gone: they live in its memory."""
        self.stop()
        if keys is not None:
            self.keys = keys
        if accounts is not None:
            self.accounts = dict(accounts)
        return self.start()

    def __enter__(self) -> TestIdp:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- what a browser does there ------------------------------------------------------------

    def log_in(self, authorization_url: str, login: str, password: str, *, redirect_uri: str) -> Redirected:
        """Follow ``authorization_url`` to the login form, submit it and follow the provider's own
        redirects (auto-consent) until it sends the browser to ``redirect_uri``."""
        browser = requests.Session()
        reply = browser.get(authorization_url, allow_redirects=False, timeout=10)
        submitted = False
        for _ in range(12):
            if reply.status_code in (301, 302, 303, 307, 308):
                location = urljoin(reply.url, reply.headers["Location"])
                if location.startswith(redirect_uri):
                    query = parse_qs(urlsplit(location).query)
                    return Redirected(location, {name: values[0] for name, values in query.items()})
                reply = browser.get(location, allow_redirects=False, timeout=10)
                continue
            if reply.status_code == 200 and "<form" in reply.text and not submitted:
                submitted = True
                reply = browser.post(
                    reply.url, data={"login": login, "password": password}, allow_redirects=False, timeout=10
                )
                continue
            raise AssertionError(f"the provider answered {reply.status_code}: {reply.text[:500]}")
        raise AssertionError("the provider never sent the browser back")


# --- the sign-in tests' provider ------------------------------------------------------------------

CLIENT_SECRET = "sealpost-test-client-secret-0123456789-abcdefghij"
OTHER_SECRET = "other-app-test-client-secret-0123456789-abcdefghij"
ASSOCIATE_GROUP, ADMIN_GROUP = "sealpost-associates", "sealpost-admins"
MFA = ["pwd", "otp"]
PASSWORD = "idp-test-password"


def associates_idp_accounts() -> dict[str, dict[str, Any]]:
    """The people of the associates' provider, by ``sub`` (each signs in with PASSWORD)."""
    return {
        "ann": user(PASSWORD, "ann@plan.example", groups=[ASSOCIATE_GROUP], amr=MFA, name="Ann Associate"),
        "boss": user(PASSWORD, "boss@plan.example", groups=[ASSOCIATE_GROUP, ADMIN_GROUP], amr=["pwd", "hwk"]),
        "alice": user(PASSWORD, "Alice@Plan.Example", groups=[ASSOCIATE_GROUP], amr=["mfa"]),
        "eve": user(PASSWORD, "eve@elsewhere.example", groups=[ASSOCIATE_GROUP], amr=MFA),
        "nomfa": user(PASSWORD, "nomfa@plan.example", groups=[ASSOCIATE_GROUP], amr=["pwd"]),
        "unverified": user(
            PASSWORD, "unverified@plan.example", email_verified=False, groups=[ASSOCIATE_GROUP], amr=MFA
        ),
        "leaver": user(PASSWORD, "leaver@plan.example", groups=[ASSOCIATE_GROUP], amr=MFA),
        # As Entra ID often signs people in: no email_verified claim at all.
        "directory": user(PASSWORD, "dora@plan.example", email_verified=None, groups=[ASSOCIATE_GROUP], amr=MFA),
        "outsider": user(PASSWORD, "outsider@plan.example", groups=["marketing"], amr=MFA),
        "shared": user(PASSWORD, "carl@plan.example", groups=[ASSOCIATE_GROUP], amr=MFA),
    }


def redirect_uris(portal_urls: Sequence[str], provider: str) -> list[str]:
    return [f"{url}/auth/{provider}/callback" for url in portal_urls]


def associates_idp(folder: Path, portal_urls: Sequence[str]) -> TestIdp:
    """The provider of the sign-in tests: Sealpost's client (``sealpost``), another application's
    (``other-app``: its tokens are for another audience) and one signed with HS256 (``hs-app``)."""
    redirects = redirect_uris(portal_urls, "associates")
    logout = [f"{url}/signin" for url in portal_urls]
    return TestIdp(
        folder,
        clients=[
            client("sealpost", CLIENT_SECRET, redirects, post_logout_redirect_uris=logout),
            client("other-app", OTHER_SECRET, redirects),
            client("hs-app", OTHER_SECRET, redirects, id_token_signed_response_alg="HS256"),
        ],
        accounts=associates_idp_accounts(),
        enabled_jwa={"idTokenSigningAlgValues": ["RS256", "ES256", "HS256"]},
    )


def code_flow(
    idp: TestIdp,
    login: str,
    *,
    client_id: str = "sealpost",
    secret: str = CLIENT_SECRET,
    redirect_uri: str,
    nonce: str = "the-nonce-of-this-sign-in",
    scope: str = "openid email groups",
) -> dict[str, Any]:
    """The tokens the provider gives a client for ``login`` (the code flow with PKCE, done directly)."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import urlencode

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": redirect_uri,
            "state": secrets.token_urlsafe(16),
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = idp.log_in(f"{idp.issuer}/auth?{query}", login, PASSWORD, redirect_uri=redirect_uri)
    reply = requests.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": back.code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def use_associates_idp(stack: Any, idp: TestIdp, patch: Any) -> None:
    """Point an in-process stack made without a provider at ``idp`` (its client secret into the
    stack's Secrets Manager, as the runbook puts it), through ``patch`` (a MonkeyPatch)."""
    arn = stack.client("secretsmanager").create_secret(
        Name="sealpost-test/associate-idp-client-secret", SecretString=json.dumps({"client_secret": CLIENT_SECRET})
    )["ARN"]
    settings = {
        "ISSUER": idp.issuer,
        "CLIENT_ID": "sealpost",
        "SCOPES": "openid email profile groups",
        "ASSOCIATE_GROUP": ASSOCIATE_GROUP,
        "ADMIN_GROUP": ADMIN_GROUP,
        "MFA": "amr",
        "SECRET_ARN": arn,
    }
    for name, value in settings.items():
        patch.setenv("SEALPOST_ASSOCIATE_IDP_" + name, value)
    patch.setenv("SEALPOST_LOCAL_MODE", "true")  # the test provider speaks plain http on 127.0.0.1


def sign_in_through(web: Any, idp: TestIdp, login: str, *, portal_url: str, provider: str = "associates") -> Any:
    """``web`` (tests/support.py's WebClient) signs in through ``idp`` as ``login``; the callback's reply."""
    started = web.get(f"/auth/{provider}/start")
    assert started.status == 302, started.text
    back = idp.log_in(
        started.header("location"), login, PASSWORD, redirect_uri=f"{portal_url}/auth/{provider}/callback"
    )
    return web.get(f"/auth/{provider}/callback?{urlsplit(back.url).query}")
