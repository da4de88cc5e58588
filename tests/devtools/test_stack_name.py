"""devtools/stack_name.py: the stack names `make package` accepts are the ones the template can
deploy under (its bucket names stay valid S3 names in every region)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from devtools import stack_name
from devtools.provision import load_template
from tests.support import ROOT

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _bucket_name_patterns() -> list[str]:
    resources = load_template()["Resources"].values()
    return [r["Properties"]["BucketName"]["Fn::Sub"] for r in resources if r["Type"] == "AWS::S3::Bucket"]


def test_the_longest_accepted_name_makes_valid_bucket_names_in_the_longest_region() -> None:
    longest = "s" * stack_name.MAX_LENGTH
    assert stack_name.check(longest) == longest
    patterns = _bucket_name_patterns()
    assert len(patterns) == 5
    for pattern in patterns:
        assert pattern.startswith("${AWS::StackName}-") and pattern.endswith("-${AWS::AccountId}-${AWS::Region}")
        name = (
            pattern.replace("${AWS::StackName}", longest)
            .replace("${AWS::AccountId}", "1" * stack_name.ACCOUNT_ID_LENGTH)
            .replace("${AWS::Region}", stack_name.LONGEST_REGION)
        )
        assert len(name) <= stack_name.BUCKET_NAME_LIMIT and BUCKET_NAME.fullmatch(name), name
    # The limit is tight: the longest purpose is the one the check assumes.
    purposes = [p.removeprefix("${AWS::StackName}-").split("-${AWS::AccountId}")[0] for p in patterns]
    assert max(purposes, key=len) == stack_name.LONGEST_PURPOSE


@pytest.mark.parametrize("name", ["sealpost", "sealpost-prod", "plan2-east", "s"])
def test_lowercase_names_that_fit_are_accepted(name: str) -> None:
    assert stack_name.check(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Sealpost", "lowercase"),
        ("sealpost_prod", "lowercase"),
        ("2sealpost", "begin with a letter"),
        ("sealpost-", "end with a letter or digit"),
        ("sealpost.prod", "lowercase"),
        ("", "empty"),
        ("s" * (stack_name.MAX_LENGTH + 1), f"at most {stack_name.MAX_LENGTH}"),
    ],
)
def test_names_that_would_fail_the_deploy_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(stack_name.StackNameError, match=re.escape(reason)):
        stack_name.check(name)


def test_make_package_refuses_a_bad_stack_name_before_building_anything() -> None:
    run = subprocess.run(
        ["make", "--no-print-directory", "package", "STACK=Sealpost-Prod", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "Stack name refused" in run.stderr and "lowercase" in run.stderr
    assert "chalice" not in run.stdout  # nothing was built
