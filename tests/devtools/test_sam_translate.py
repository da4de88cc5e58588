"""devtools/sam_translate.py: the SAM transform, offline, as CloudFormation would apply it."""

from __future__ import annotations

from typing import Any

from devtools.sam_translate import ARTIFACT_URI, translate

SKIP = {"checkov": {"skip": [{"id": "CKV_AWS_117", "comment": "a reason"}]}}


def _sam() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Digests": {
                "Type": "AWS::Serverless::Function",
                "Metadata": SKIP,
                "Properties": {
                    "CodeUri": "./deployment.zip",
                    "Handler": "app.digests",
                    "Runtime": "python3.11",
                    "Role": "arn:aws:iam::123456789012:role/digests",
                    "Events": {"Hourly": {"Type": "Schedule", "Properties": {"Schedule": "cron(5 * * * ? *)"}}},
                },
            },
            "Plain": {"Type": "AWS::SNS::Topic"},
            "DigestsLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
        },
    }


def test_a_serverless_function_becomes_a_lambda_function_with_its_uploaded_code() -> None:
    sam = _sam()
    resources = translate(sam)["Resources"]
    assert resources["Digests"]["Type"] == "AWS::Lambda::Function"
    bucket, key = ARTIFACT_URI.removeprefix("s3://").split("/", 1)
    assert resources["Digests"]["Properties"]["Code"] == {"S3Bucket": bucket, "S3Key": key}
    assert resources["Plain"] == {"Type": "AWS::SNS::Topic"}
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Serverless::")]
    assert sam["Resources"]["Digests"]["Properties"]["CodeUri"] == "./deployment.zip"  # input untouched


def test_the_reviewed_skips_go_with_everything_a_serverless_resource_becomes() -> None:
    resources = translate(_sam())["Resources"]
    generated = [name for name in resources if name.startswith("Digests") and name != "DigestsLogs"]
    assert len(generated) >= 3  # the function, its schedule rule and the rule's permission
    for name in generated:
        assert resources[name]["Metadata"]["checkov"] == SKIP["checkov"], name
    assert "Metadata" not in resources["Plain"] and "Metadata" not in resources["DigestsLogs"]
