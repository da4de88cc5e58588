"""The deployable template in plain CloudFormation, translated offline from its SAM form as
CloudFormation's ``AWS::Serverless-2016-10-31`` transform does (aws-sam-translator, AWS's own
library behind that transform). cfn-lint and checkov read both forms (tests/test_infra.py), so
what the transform generates (the functions' event permissions, the API stage) is checked too.

Usage: python -m devtools.sam_translate build/package/sam.yaml build/package/translated.json"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from samtranslator.translator.transform import transform

# `aws cloudformation package` replaces the local ./deployment.zip with its upload; the translator
# accepts only S3 locations, so an artifact location of the same shape stands in.
ARTIFACT_URI = "s3://sealpost-artifacts-123456789012-us-east-1/deployment.zip"


class NoManagedPolicies:
    """Stands in for the translator's ManagedPolicyLoader (which asks IAM): every role is written out
    in the template (infra/template.yaml), so there is no managed policy to look up."""

    def load(self) -> dict[str, str]:
        return {}


def _with_uploaded_code(template: dict[str, Any]) -> dict[str, Any]:
    uploaded = copy.deepcopy(template)
    for resource in uploaded.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = ARTIFACT_URI
    return uploaded


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``sam`` (resource Metadata, with its checkov
    skips, carried over to what each SAM resource becomes)."""
    # The translator reads the region for the pseudo parameters from boto's default session.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated: dict[str, Any] = transform(_with_uploaded_code(sam), {}, NoManagedPolicies(), passthrough_metadata=True)
    _carry_metadata_to_generated(sam, translated)
    return translated


def _carry_metadata_to_generated(sam: dict[str, Any], translated: dict[str, Any]) -> None:
    """A SAM resource becomes several; the reviewed skips on it hold for each of them (the
    translator names them after it: RestAPI -> RestAPIapiStage, RestAPIDeployment1a2b...)."""
    resources, written = translated["Resources"], sam.get("Resources", {})
    for name, source in written.items():
        metadata = source.get("Metadata")
        if not metadata or not str(source.get("Type", "")).startswith("AWS::Serverless::"):
            continue
        for generated_name, generated in resources.items():
            # (APIHandlerLogs, written in the template, is not generated from APIHandler.)
            made_from_it = generated_name == name or (generated_name.startswith(name) and generated_name not in written)
            if made_from_it and "Metadata" not in generated:
                generated["Metadata"] = copy.deepcopy(metadata)


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    sam = yaml.load(source.read_text(), Loader=yaml.SafeLoader)
    target.write_text(json.dumps(translate(sam), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
