"""Where a command finds a stack's settings: the caller's name, the region, and `make run`'s file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib.commands.stacks import caller_name, default_region, of_file
from chalicelib.errors import ConfigurationError


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:sts::123456789012:assumed-role/SealpostAdmin/jane.doe@plan.example", "jane.doe@plan.example"),
        ("arn:aws:iam::123456789012:user/ops/bob", "bob"),
        ("arn:aws:iam::123456789012:root", "root"),
    ],
)
def test_the_operator_is_the_last_part_of_the_callers_arn(arn: str, name: str) -> None:
    assert caller_name(arn) == name


def test_the_region_comes_from_aws_region_first() -> None:
    assert default_region({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}) == "eu-west-1"
    assert default_region({"AWS_DEFAULT_REGION": "us-west-2"}) == "us-west-2"


def test_no_region_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigurationError, match="no AWS region"):
        default_region({})


def test_the_file_gives_the_sealpost_settings_and_the_region_only(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    endpoint = "http://127.0.0.1:5000"
    path.write_text(
        json.dumps(
            {
                "SEALPOST_ACCOUNTS_TABLE": "accounts",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_SECRET_ACCESS_KEY": "local",
                "HOME": "/root",
            }
        )
    )
    found = of_file(str(path), {"AWS_ENDPOINT_URL": endpoint})
    assert found.variables == {"SEALPOST_ACCOUNTS_TABLE": "accounts", "AWS_REGION": "us-east-1"}
    assert found.operator and str(path) in found.description


def test_a_local_stand_ins_file_is_refused_without_its_endpoint(tmp_path: Path) -> None:
    """Otherwise the stand-in's table names would be sent to real AWS."""
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"SEALPOST_ACCOUNTS_TABLE": "a", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}))
    with pytest.raises(ConfigurationError, match=re.escape("set AWS_ENDPOINT_URL=http://127.0.0.1:5000")):
        of_file(str(path), {})
    with pytest.raises(ConfigurationError, match="set AWS_ENDPOINT_URL"):
        of_file(str(path), {"AWS_ENDPOINT_URL": "http://127.0.0.1:5001"})


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "make run"), ("{not json", "cannot be read as JSON"), ("[1, 2]", "one JSON object"), ('{"A": 1}', "text")],
)
def test_a_missing_or_broken_file_is_a_configuration_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "env.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        of_file(str(path), {})
