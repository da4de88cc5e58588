"""The Makefile's commands as README.md writes them (`make -n`: what make would run, nothing started)."""

from __future__ import annotations

import os
import shlex
import subprocess

from tests.support import ROOT


def readme_command(start: str) -> list[str]:
    """The first line of README.md that starts with ``start``, split as the shell would."""
    line = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(start))
    return shlex.split(line)


def dry_run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "SEALPOST_"))}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_send_mail_as_the_readme_writes_it_has_no_cc_recipient_from_makes_own_cc() -> None:
    command = readme_command("make send-mail ")
    assert command[:2] == ["make", "send-mail"]
    ran = dry_run(*command[1:])
    assert '--to "carol@clinic.example"' in ran and '--subject "Claim 4471"' in ran
    assert "--cc" not in ran
    assert '--cc "dana@clinic.example"' in dry_run(*command[1:], "CC=dana@clinic.example")


def test_the_first_install_says_what_it_is_doing() -> None:
    ran = dry_run("-W", "requirements.txt", ".venv/.installed")
    assert "Installing Python packages into .venv (the first time takes a few minutes)" in ran
