"""`make run`: the product starts on 127.0.0.1 against moto, the demo associate signs in, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from devtools.seed import DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, DEMO_PARTNER_PASSWORD
from tests.conftest import free_port
from tests.devtools.test_makefile import readme_command
from tests.support import ROOT

pytestmark = pytest.mark.slow


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Browser:
    """Just enough of a browser for plain HTTP on 127.0.0.1: it keeps cookies, even __Host- ones."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, method="POST" if form is not None else "GET")
        if self.cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        opener = urllib.request.build_opener(NoRedirect)
        try:
            reply = opener.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            reply = error
        for header in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return reply.status, dict(reply.headers), reply.read().decode()

    def form_token(self, page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found
        return found.group(1)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def enrol_by_hand(browser: Browser, location: str) -> str:
    """MfaPolicy=required: set up the authenticator app as a person would (the key typed from the
    page, its code computed here), pass the recovery codes; returns where the page leads next."""
    import pyotp

    assert location.startswith("/enrol?"), location
    status, _, page = browser.request(location)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page)
    after = re.search(r'name="next" value="([^"]*)"', page)
    assert status == 200 and secret and after, page
    code = pyotp.TOTP(secret.group(1).replace(" ", "")).now()
    form = {"csrf_token": browser.form_token(page), "next": after.group(1), "code": code}
    status, headers, _ = browser.request("/enrol", form)
    assert status == 303, status
    status, _, codes = browser.request(headers["Location"])
    assert status == 200 and "Your recovery codes" in codes
    return after.group(1)


def follow_the_pickup_flow_by_hand(base: str, app_port: int, moto_port: int) -> None:
    """Acceptance of the gateway issue: send a mail with `make send-mail` as the README writes it,
    read the notification in the local mail view, register from its link, read, reply, and see the
    reply reach the associate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEALPOST_", "MAKE"))}
    env.update(PORT=str(app_port), MOTO_PORT=str(moto_port))
    # First exactly the README's line (make's built-in CC=cc must not become a recipient).
    readme = subprocess.run(
        readme_command("make send-mail "), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert readme.returncode == 0, readme.stdout + readme.stderr
    assert "carol@clinic.example: pickup link" in readme.stdout and "cc:" not in readme.stdout
    sent = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "send-mail",
            "TO=walkthrough@clinic.example",
            "SUBJECT=Walkthrough claim",
            "BODY=Walkthrough body text.",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "walkthrough@clinic.example: pickup link" in sent.stdout
    browser = Browser(base)
    _, _, mail_page = browser.request("/local/mail")
    link = re.search(re.escape(base) + r"(/p/[A-Za-z0-9_-]{43})", mail_page)
    assert link, "no pickup link in the local mail view"
    status, _, page = browser.request(link.group(1))
    assert status == 200 and "Choose your password" in page
    password = "copper meadow lantern quill"
    status, headers, _ = browser.request(
        link.group(1), {"csrf_token": browser.form_token(page), "password": password, "password_confirmation": password}
    )
    assert status == 303, status
    thread_path = enrol_by_hand(browser, headers["Location"]).split("?")[0]
    status, _, thread = browser.request(thread_path)
    assert status == 200 and "Walkthrough body text." in thread
    status, _, _ = browser.request(
        thread_path + "/reply", {"csrf_token": browser.form_token(thread), "text": "Walkthrough reply."}
    )
    assert status == 303
    _, _, mail_page = browser.request("/local/mail")
    assert "[Secure] Walkthrough claim" in mail_page and "Walkthrough reply." in mail_page


def test_make_run_serves_sign_in_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    app_port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEALPOST_"))}
    env.update(PORT=str(app_port), MOTO_PORT=str(moto_port))
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run_local"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 120
            while "Sealpost is running" not in log.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()
                time.sleep(0.3)
            banner = log.read_text()
            assert DEMO_ASSOCIATE in banner and DEMO_ASSOCIATE_PASSWORD in banner
            assert "demo partner:" in banner and DEMO_PARTNER_PASSWORD in banner
            steps = ["starting moto", "creating the stack's resources", "seeding demo data", "starting the portal"]
            assert [step in banner for step in steps] == [True] * 4  # a first run shows it is working

            base = f"http://127.0.0.1:{app_port}"
            with urllib.request.urlopen(base + "/signin", timeout=10) as page:
                assert page.status == 200
                assert "<h1>Sign in</h1>" in page.read().decode()
            request = urllib.request.Request(
                base + "/api/session",
                data=json.dumps({"username": DEMO_ASSOCIATE, "password": DEMO_ASSOCIATE_PASSWORD}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as signed_in:
                # MfaPolicy=required (the default): the password was right, the app is to be set up next.
                assert json.load(signed_in)["enrolment_required"] is True
                assert "__Host-sealpost_session=" in signed_in.headers["Set-Cookie"]
            with urllib.request.urlopen(base + "/local/mail", timeout=10) as mail:
                assert mail.status == 200
            follow_the_pickup_flow_by_hand(base, app_port, moto_port)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while (port_open(app_port) or port_open(moto_port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(app_port) and not port_open(moto_port)
