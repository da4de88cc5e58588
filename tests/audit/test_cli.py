"""The `sealpost-audit` command: times, configuration and AWS errors, the digest command, and the
installed console script against a moto server reached through AWS_ENDPOINT_URL (as with `make run`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.audit.cli import main, parse_time
from chalicelib.audit.records import Actor, AuditEvent, AuditLog, RequestInfo
from devtools.provision import Provisioner
from tests.conftest import CliRun, server_on_a_free_port

NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T05:00Z", datetime(2026, 3, 1, 5, tzinfo=UTC)),
        ("2026-03-01T07:00+02:00", datetime(2026, 3, 1, 5, tzinfo=UTC)),
        ("30m", datetime(2026, 3, 4, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2026, 3, 4, 0, 30, tzinfo=UTC)),
        ("7d", datetime(2026, 2, 25, 12, 30, tzinfo=UTC)),
    ],
)
def test_times_are_iso_dates_or_times_in_utc_or_how_long_ago(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_a_bad_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bucket", "b", "search", "--start", "last tuesday"]) == 2
    assert "not a time: 'last tuesday'" in capsys.readouterr().err


def test_without_a_bucket_the_command_says_which_setting_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search"]) == 2
    assert "SEALPOST_AUDIT_BUCKET" in capsys.readouterr().err


def test_verify_without_a_signing_key_refuses_to_trust_any_signature(
    audit_stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEALPOST_AUDIT_SIGNING_KEY_ARN")
    assert main(["--bucket", audit_stack.audit_bucket, "verify", "--start", "1d"]) == 2
    assert "SEALPOST_AUDIT_SIGNING_KEY_ARN" in capsys.readouterr().err


def test_an_aws_error_is_reported_in_one_line_without_a_traceback(
    audit_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--bucket", "no-such-audit-bucket", "search"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sealpost-audit: AWS refused the request: NoSuchBucket") and "Traceback" not in err


def test_the_digest_command_writes_the_digests_that_are_due(
    audit_stack: Any, record_at: Callable[..., Any], audit_cli: Callable[..., CliRun]
) -> None:
    record_at("2026-03-04T05:10Z")
    data_key = ["digest", "--data-key", audit_stack.env["SEALPOST_KMS_KEY_ARN"]]
    first = audit_cli(*data_key, at="2026-03-04T07:05Z")
    assert first.code == 0, first.err
    assert first.out.splitlines() == [
        "wrote digests/dt=2026-03-04/20260304T050000Z_20260304T060000Z.json (1 record object(s))",
        "wrote digests/dt=2026-03-04/20260304T060000Z_20260304T070000Z.json (0 record object(s))",
    ]
    assert audit_cli(*data_key, at="2026-03-04T07:05Z").out == "no digest is due\n"
    assert audit_cli("verify", "--start", "2026-03-04", at="2026-03-04T07:05Z").code == 0


def test_a_signing_key_alias_is_accepted(audit_stack: Any, record_at: Callable[..., Any]) -> None:
    record_at("2026-03-04T05:10Z")
    audit_stack.digests().write_due(datetime(2026, 3, 4, 6, 5, tzinfo=UTC))
    alias = "alias/sealpost-test-audit-signing"
    args = ["--bucket", audit_stack.audit_bucket, "--signing-key", alias, "verify", "--start", "2026-03-04T05:00Z"]
    args += ["--end", "2026-03-04T06:00Z"]
    assert main(args) == 0


# --- the installed console script against a moto server ------------------------------------------


@pytest.fixture
def moto_server() -> Iterator[str]:
    with server_on_a_free_port(lambda port: [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]) as url:
        yield url


def test_the_console_script_reads_a_local_stand_in_through_aws_endpoint_url(moto_server: str) -> None:
    script = BIN / "sealpost-audit"
    assert script.exists(), "the console script is missing: run `make` (pip install -e .)"

    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=moto_server)

    stack = Provisioner(client_factory=client).provision("sealpost-cli")
    bucket = stack.environment["SEALPOST_AUDIT_BUCKET"]
    AuditLog(bucket, stack.environment["SEALPOST_KMS_KEY_ARN"], lambda: client("s3")).record(
        AuditEvent.SIGNIN_FAILED, actor=Actor("bob@clinic.example", "partner"), request=RequestInfo("req-cli")
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEALPOST_"))},
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SEALPOST_AUDIT_BUCKET": bucket,
        "SEALPOST_AUDIT_SIGNING_KEY_ARN": "alias/sealpost-cli-audit-signing",
        "SEALPOST_KMS_KEY_ARN": stack.environment["SEALPOST_KMS_KEY_ARN"],
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=60)

    found = run("search", "--event", "signin.failed", "--format", "jsonl")
    assert found.returncode == 0, found.stderr
    (record,) = [json.loads(line) for line in found.stdout.splitlines()]
    assert (record["actor"], record["request_id"]) == ("bob@clinic.example", "req-cli")
    digest = run("digest")
    assert digest.returncode == 0 and digest.stdout.startswith("wrote digests/dt="), digest.stderr
    verified = run("verify", "--start", "1d")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "RESULT: intact" in verified.stdout


def test_a_range_that_ends_before_it_starts_is_a_usage_error(audit_cli: Callable[..., CliRun]) -> None:
    run = audit_cli("search", "--start", "2026-03-04T06:00Z", "--end", "2026-03-04T05:00Z")
    assert run.code == 2 and "--start must be before --end" in run.err
