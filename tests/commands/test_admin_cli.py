"""The `sealpost-admin` command: a deployed stack found by name (CloudFormation → its API function →
that function's environment, on moto), usage and AWS errors, and the installed console script against
a local stand-in as `make admin` runs it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.commands.admin_cli import main
from devtools.provision import Provisioner
from devtools.run_local import LOCAL_ENV
from tests.conftest import CliRun, server_on_a_free_port
from tests.support import PORTAL_URL, ROOT, audit_events

BIN = Path(sys.executable).parent


def run(*args: str) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return CliRun(code, out.getvalue(), err.getvalue())


def deploy_api_function(name: str, environment: dict[str, str]) -> None:
    """A CloudFormation stack whose ``APIHandler`` is a Lambda function with ``environment``, as Chalice deploys it."""
    trust = {"Version": "2012-10-17", "Statement": []}
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName=f"{name}-api", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.11",
            "Handler": "app.app",
            "Role": role,
            "Code": {"ZipFile": "app = None\n"},
            "Environment": {"Variables": environment},
        },
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=name, TemplateBody=json.dumps({"Resources": {"APIHandler": function}})
    )


@pytest.fixture
def deployed(stack: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The provisioned stack as a deployment holds it; the process itself has no SEALPOST_ variable, so the
    settings can only come from the function."""
    deploy_api_function(
        "sealpost-prod",
        {**stack.env, "SEALPOST_STAGE": "prod", "SEALPOST_ASSOCIATE_PASSWORD_SIGNIN": "false", "OTHER": "ignored"},
    )
    for name in list(os.environ):
        if name.startswith("SEALPOST_"):
            monkeypatch.delenv(name)
    return "sealpost-prod"


def test_a_stack_found_by_name_gets_its_first_associate(deployed: str, stack: Any) -> None:
    created = run("--stack", deployed, "create-associate", "dee@plan.example", "--name", "Dee", "--print-link")
    assert created.code == 0, created.err
    assert f"in stack {deployed} (us-east-1)" in created.out
    assert re.search(re.escape(PORTAL_URL) + r"/register/[A-Za-z0-9_-]{43}$", created.out, re.MULTILINE)
    item = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.env["SEALPOST_ACCOUNTS_TABLE"])
    stored = item.get_item(Key={"pk": "ACCOUNT#dee@plan.example"})["Item"]
    assert (stored["role"], stored["status"], stored["created_by"]) == ("associate", "invited", "sealpost-admin")
    (record,) = audit_events(stack, "account.created")
    assert record["detail"]["operator"] == "moto"  # the STS caller's name (moto's is arn:aws:sts::…:user/moto)

    listed = run("--stack", deployed, "--region", "us-east-1", "list", "--role", "associate")
    assert listed.code == 0 and "dee@plan.example" in listed.out


def test_an_unknown_stack_is_named_in_one_line(deployed: str) -> None:
    missing = run("--stack", "no-such-stack", "list")
    assert missing.code == 2
    assert missing.err.startswith("sealpost-admin: AWS refused the request: ValidationError")
    assert "no-such-stack" in missing.err and "Traceback" not in missing.err


def test_a_stack_whose_function_has_no_sealpost_settings_is_refused(stack: Any) -> None:
    deploy_api_function("not-sealpost", {"SOMETHING": "else"})
    refused = run("--stack", "not-sealpost", "list")
    assert refused.code == 2 and "has no SEALPOST_ settings" in refused.err


def test_a_missing_setting_is_named(deployed: str, stack: Any) -> None:
    partial = {k: v for k, v in stack.env.items() if k != "SEALPOST_ACCOUNTS_TABLE"}
    deploy_api_function("sealpost-partial", partial)
    refused = run("--stack", "sealpost-partial", "list")
    assert refused.code == 2 and "SEALPOST_ACCOUNTS_TABLE is not set" in refused.err


@pytest.mark.parametrize(
    "args",
    [["list"], ["--stack", "s", "--env-file", "f", "list"], ["--stack", "s"], ["--stack", "s", "break-glass"]],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*args).code == 2
    assert "usage: sealpost-admin" in capsys.readouterr().err


# --- the installed console script against a local stand-in ----------------------------------------


@pytest.fixture
def moto_server() -> Iterator[str]:
    with server_on_a_free_port(lambda port: [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]) as url:
        yield url


def test_the_console_script_manages_a_local_stand_in_as_make_admin_runs_it(moto_server: str, tmp_path: Path) -> None:
    script = BIN / "sealpost-admin"
    assert script.exists(), "the console script is missing: run `make` (pip install -e .)"

    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=moto_server)

    stack = Provisioner(client_factory=client).provision("sealpost-admin-cli", parameters={"PortalUrl": PORTAL_URL})
    aws = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    env_file = tmp_path / "env.json"  # what devtools/run_local.py writes to .local/env.json
    env_file.write_text(json.dumps({**aws, **stack.environment, "SEALPOST_LOCAL_MODE": "true"}))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEALPOST_"))}

    def admin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [str(script), "--env-file", str(env_file), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    created = admin("create-associate", "gil@plan.example", "--print-link", env={**clean, **aws})
    assert created.returncode == 0, created.stderr
    assert re.search(re.escape(PORTAL_URL) + r"/register/[A-Za-z0-9_-]{43}$", created.stdout, re.MULTILINE)
    listed = admin("list", env={**clean, **aws})
    assert listed.returncode == 0 and re.search(r"^gil@plan\.example\s.*\binvited\b", listed.stdout, re.MULTILINE)

    without_endpoint = admin("list", env={**clean, **{k: v for k, v in aws.items() if k != "AWS_ENDPOINT_URL"}})
    assert without_endpoint.returncode == 2
    assert f"set AWS_ENDPOINT_URL={moto_server}" in without_endpoint.stderr


def test_make_admin_runs_the_script_on_the_file_make_run_writes() -> None:
    dry = subprocess.run(
        ["make", "-n", "admin", "ARGS=list --role associate"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    (line,) = [line for line in dry.stdout.splitlines() if "sealpost-admin" in line]
    assert f"sealpost-admin --env-file {LOCAL_ENV.relative_to(ROOT)} list --role associate" in line
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:${MOTO_PORT:-5000}" in dry.stdout
