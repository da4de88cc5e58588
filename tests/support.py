"""Helpers shared by the tests: a cookie-keeping HTTP client over Chalice's test client, and readers
for what the app wrote to the AWS stand-in (audit records, sent mail)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

ROOT = Path(__file__).resolve().parent.parent
PORTAL_URL = "https://portal.test"
DEMO_PASSWORD = "correct horse battery staple for tests"


@dataclass
class Reply:
    status: int
    headers: dict[str, Any]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> Any:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def set_cookies(self) -> list[str]:
        value = self.header("set-cookie")
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


@dataclass
class WebClient:
    """One browser: keeps cookies, sends the CSRF token it was given, speaks JSON or forms."""

    client: Client
    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str | None = None
    user_agent: str = "pytest-browser/1.0"
    recovery_codes: list[str] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent: dict[str, str] = {"user-agent": self.user_agent}
        payload = b""
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            sent["content-type"] = "application/json"
        elif form is not None:
            payload = urlencode(form).encode()
            sent["content-type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            payload = body
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.csrf_token and method.upper() not in ("GET", "HEAD"):
            sent["x-csrf-token"] = self.csrf_token
        sent.update(headers or {})
        response = self.client.http.request(method, path, headers=sent, body=payload)
        reply = Reply(status=response.status_code, headers=dict(response.headers), body=response.body)
        for raw in reply.set_cookies():
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    # --- JSON API conveniences -----------------------------------------------------------

    def sign_in(self, username: str, password: str) -> Reply:
        """Sign in through the API, answering the second-factor step as the person would (their
        authenticator app is ``SECOND_FACTORS``); enrols first when the account has no factor yet."""
        reply = self.post("/api/session", json_body={"username": username, "password": password})
        if reply.status == 200:
            self.csrf_token = reply.json["csrf_token"]
            reply = self.second_factor(reply, username)
        return reply

    def second_factor(self, reply: Reply, who: str) -> Reply:
        """Complete the step a first step (sign-in, registration, pickup) answered with, if any: enrol a
        TOTP app (keeping its recovery codes in ``recovery_codes``) or give the app's current code."""
        body = reply.json
        if not (body.get("enrolment_required") or body.get("second_factor_required")):
            return reply
        self.csrf_token = body["csrf_token"]
        if body.get("enrolment_required"):
            offer = self.post("/api/session/second-factor/enrolment", json_body={})
            assert offer.status == 201, offer.text
            email = SECOND_FACTORS.enrol(offer.json["otpauth_uri"], offer.json["secret"])
            code = SECOND_FACTORS.code(email)
            done = self.post("/api/session/second-factor/enrolment/confirm", json_body={"code": code})
            if done.status == 200:
                self.recovery_codes = SECOND_FACTORS.recovery[email] = list(done.json["recovery_codes"])
        else:
            code = SECOND_FACTORS.code(SECOND_FACTORS.email_of(who))
            done = self.post("/api/session/second-factor", json_body={"code": code})
        if done.status == 200:
            self.csrf_token = done.json["csrf_token"]
            SECOND_FACTORS.known(done.json["username"], done.json["email"])
        return done

    # --- HTML form conveniences ----------------------------------------------------------

    def form_token(self, path: str) -> str:
        page = self.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, f"no CSRF field on {path} ({page.status})"
        return found.group(1)

    def submit(self, page: str, action: str, fields: dict[str, str]) -> Reply:
        """Load ``page``, take its CSRF token and post ``fields`` to ``action`` as a browser would."""
        token = self.form_token(page)
        return self.post(action, form={"csrf_token": token, **fields})

    def sign_in_page(
        self, username: str, password: str, *, page: str = "/signin", action: str = "/signin", **more: str
    ) -> Reply:
        """Sign in with the HTML form, then through the second-factor pages as a person would; the
        answer is the final redirect (to the page asked for)."""
        return self.through_second_factor(
            self.submit(page, action, {"username": username, "password": password, **more}), username
        )

    def through_second_factor(self, reply: Reply, who: str) -> Reply:
        """Follow a first step's redirect through the enrolment or code page, if it leads there."""
        from urllib.parse import unquote

        location = str(reply.header("location") or "")
        if reply.status != 303 or not location.startswith(("/enrol?", "/signin/verify?")):
            return reply
        page = self.get(location)
        assert page.status == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        after = re.search(r'name="next" value="([^"]*)"', page.text)
        assert token and after, page.text
        if location.startswith("/enrol?"):
            secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page.text)
            account = re.search(r'id="totp-account"[^>]*>([^<]+)<', page.text)
            assert secret and account, page.text
            email = SECOND_FACTORS.enrol(f"otpauth://totp/x:{account.group(1)}", secret.group(1))
            fields = {"csrf_token": token.group(1), "next": unquote(after.group(1)), "code": SECOND_FACTORS.code(email)}
            confirmed = self.post("/enrol", form=fields)
            assert confirmed.status == 303, confirmed.text
            codes = self.get(str(confirmed.header("location")))
            self.recovery_codes = re.findall(r"<li><code>([a-z0-9-]{29})</code></li>", codes.text)
            SECOND_FACTORS.recovery[email] = self.recovery_codes
            assert len(self.recovery_codes) == 10, codes.text
            final = re.search(r'class="button" href="([^"]+)"', codes.text)
            assert final
            return Reply(303, {"Location": final.group(1).replace("&amp;", "&")}, b"")
        code = SECOND_FACTORS.code(SECOND_FACTORS.email_of(who))
        return self.post(
            "/signin/verify", form={"csrf_token": token.group(1), "next": unquote(after.group(1)), "code": code}
        )


@dataclass
class AuthenticatorApps:
    """The authenticator apps of the people in a test: the TOTP seed of each mail address, enrolled
    through the product (the seed read from its enrolment answer, as a person scans the QR code).

    A TOTP code works once (the product uses up its time step). A test that signs one person in
    several times within 30 seconds would have to wait for the next step; instead ``code`` moves the
    stored last step back when this test already used the current one, so that the other tests keep
    proving what they prove. tests/mfa/test_totp.py proves the replay refusal itself without this.
    """

    seeds: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    recovery: dict[str, list[str]] = field(default_factory=dict)  # the codes shown at the last enrolment
    table: Any = None  # the accounts table (moto), set by whoever needs the rewind (in-process or the portal's)

    def clear(self) -> None:
        self.seeds.clear()
        self.emails.clear()
        self.used.clear()
        self.recovery.clear()
        self.table = None

    def enrol(self, otpauth_uri: str, secret: str) -> str:
        from urllib.parse import unquote, urlsplit

        label = unquote(urlsplit(otpauth_uri).path.lstrip("/"))
        email = label.rpartition(":")[2].lower()
        self.seeds[email] = secret.replace(" ", "")
        self.used.pop(email, None)
        return email

    def known(self, username: str, email: str) -> None:
        self.emails[username.lower()] = email.lower()

    def email_of(self, who: str) -> str:
        """The mail address of a user name (or the address itself), read from the accounts table if new."""
        who = who.lower()
        if who not in self.emails and "@" not in who:
            item = self._table().get_item(Key={"pk": "ACCOUNT#" + who}).get("Item")
            if item:
                self.emails[who] = str(item["email"])
        return self.emails.get(who, who)

    def _table(self) -> Any:
        import os

        import boto3

        return self.table or boto3.resource("dynamodb", region_name="us-east-1").Table(
            os.environ["SEALPOST_ACCOUNTS_TABLE"]
        )

    def code(self, email: str) -> str:
        import time

        import pyotp

        step = int(time.time()) // 30
        if self.used.get(email, -1) >= step:
            self._rewind(email, step - 1)
        self.used[email] = step
        return str(pyotp.TOTP(self.seeds[email]).at(step * 30))

    def _rewind(self, email: str, step: int) -> None:
        self._table().update_item(
            Key={"pk": "FACTORS#" + email},
            UpdateExpression="SET totp_last_step = :s",
            ExpressionAttributeValues={":s": step},
        )


SECOND_FACTORS = AuthenticatorApps()


# --- what the app left in the stand-in ---------------------------------------------------


def audit_records(s3: Any, bucket: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="records/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            records.extend(json.loads(line) for line in body.splitlines() if line)
    return sorted(records, key=lambda r: r["time"])


def audit_events(stack: Any, name: str) -> list[dict[str, Any]]:
    """The stack's audit records of event ``name``, oldest first."""
    return [r for r in audit_records(stack.client("s3"), stack.audit_bucket) if r["event"] == name]


def audit_objects(s3: Any, bucket: str) -> list[bytes]:
    """Every stored audit object, raw (for scanning for secrets)."""
    blobs = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            blobs.append(
                s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            )
    return blobs


def sent_mail() -> list[EmailMessage]:
    """Every mail moto's SES accepted in this test (in-process moto)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    messages = []
    for raw in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages:
        parsed = message_from_string(raw.raw_data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def mail_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, prefix: str) -> str:
    found = re.search(re.escape(PORTAL_URL) + r"(" + re.escape(prefix) + r"[A-Za-z0-9_\-]+)", mail_text(message))
    assert found, f"no {prefix} link in mail"
    return found.group(1)


def upload(web: WebClient, data: bytes, declared: int | None = None) -> str:
    """Stage a file the way a browser does: ask for a presigned POST, then post the file to S3."""
    import requests

    ticket = web.post("/api/uploads", json_body={"size": declared if declared is not None else len(data)})
    assert ticket.status == 201, ticket.text
    posted = requests.post(ticket.json["url"], data=ticket.json["fields"], files={"file": ("f", data)}, timeout=60)
    assert posted.status_code in (200, 201, 204), posted.text
    return str(ticket.json["upload_id"])


def all_s3_objects(s3: Any) -> list[tuple[str, str, bytes]]:
    """(bucket, key, body) of every version of every object in every bucket."""
    found = []
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                found.append((bucket, version["Key"], body))
    return found


def all_dynamodb_items(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
    return items


DOWNLOADS_URL = "https://downloads.test"


@dataclass
class Streamed:
    """What the streaming download function answered: status, headers, and every byte it sent."""

    status: int
    headers: dict[str, str]
    body: bytes


def stream_download(location: str, services: Any, *, method: str = "GET", context: str | None = None) -> Streamed:
    """Call the streaming download function (its WSGI application, in-process) as a browser following
    the API's redirect to ``location`` would."""
    from urllib.parse import urlsplit

    from chalicelib.web.download_server import application

    assert location.startswith(DOWNLOADS_URL + "/"), location
    environ = {"REQUEST_METHOD": method, "PATH_INFO": urlsplit(location).path, "HTTP_USER_AGENT": "pytest-browser/1.0"}
    if context is not None:
        environ["HTTP_X_AMZN_REQUEST_CONTEXT"] = context
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered["status"], answered["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(application(lambda: services)(environ, start_response))
    return Streamed(answered["status"], answered["headers"], body)


def fetch_attachment(web: WebClient, url: str, services: Any) -> bytes:
    """Download an attachment the way a browser would: inline from the API, or by following its redirect
    through a download grant to the streaming download function."""
    reply = web.get(url, headers={"accept": "*/*"})
    if reply.status == 200:
        return reply.body
    assert reply.status == 303, (reply.status, reply.text)
    streamed = stream_download(reply.header("location"), services)
    assert streamed.status == 200, streamed
    assert int(streamed.headers["Content-Length"]) == len(streamed.body), "the stream was cut short"
    return streamed.body


# --- settings and mail for tests that need no stack ------------------------------------------

SETTINGS_ENV = {
    "SEALPOST_DEPLOYMENT": "sealpost-test",
    "SEALPOST_ACCOUNTS_TABLE": "a",
    "SEALPOST_SESSIONS_TABLE": "s",
    "SEALPOST_TOKENS_TABLE": "t",
    "SEALPOST_GATEWAY_TABLE": "g",
    "SEALPOST_AUDIT_BUCKET": "b",
    "SEALPOST_THREADS_TABLE": "th",
    "SEALPOST_MESSAGES_BUCKET": "m",
    "SEALPOST_STAGING_BUCKET": "st",
    "SEALPOST_INBOUND_BUCKET": "in",
    "SEALPOST_GATEWAY_ADDRESS": "secure-gateway@plan.example",
    "SEALPOST_TLS_CONFIGURATION_SET": "tls",
    "SEALPOST_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/abc",
    "SEALPOST_MAIL_FROM": "no-reply@plan.example",
    "SEALPOST_PORTAL_URL": "https://portal.test/",
    "SEALPOST_INTERNAL_DOMAINS": "Plan.Example, corp.plan.example",
}


# The gateway's test mail: a subject and body holding PHI the content scan finds.
SUBJECT = "Authorization for Maria Gonzalez"
BODY = "Please approve the MRI for Maria Gonzalez, DOB: 03/14/1961, SSN 536-22-8145."
HARMLESS = "The meeting moved to Thursday at ten."


def mime(
    to: str,
    *,
    subject: str = SUBJECT,
    body: str = BODY,
    sender: str = "Alice Associate <alice@plan.example>",
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((to, subject, body)))}@mail.plan.example>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if attachment:
        message.add_attachment(attachment[1], maintype="application", subtype="pdf", filename=attachment[0])
    return message.as_bytes()


BREAK_GLASS_PASSPHRASE = re.compile(r"^    ([a-z2-9]{5}(?:-[a-z2-9]{5}){5})$", re.MULTILINE)


def printed_passphrase(run: Any) -> str:
    """The one break-glass passphrase a ``sealpost-admin break-glass`` run printed (a ``CliRun``)."""
    assert run.code == 0, run.err
    found = BREAK_GLASS_PASSPHRASE.findall(run.out)
    assert len(found) == 1, run.out
    return str(found[0])
