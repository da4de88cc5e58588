"""`make run`: the product starts on 127.0.0.1 against moto, the demo associate signs in, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.seed import DEMO_ASSOCIATE, DEMO_ASSOCIATE_PASSWORD, DEMO_PARTNER_PASSWORD
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


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
                assert json.load(signed_in)["role"] == "associate"
                assert "__Host-sealpost_session=" in signed_in.headers["Set-Cookie"]
            with urllib.request.urlopen(base + "/local/mail", timeout=10) as mail:
                assert mail.status == 200
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while (port_open(app_port) or port_open(moto_port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(app_port) and not port_open(moto_port)
