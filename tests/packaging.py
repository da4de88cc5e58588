"""The deployable template, built as `make package` builds it: Chalice's SAM template merged with
infra/template.yaml (``chalice package --merge-template``), and its plain CloudFormation form
(devtools/sam_translate.py). Used once per test session through the ``merged_package`` fixture
(tests/conftest.py) by the cfn-lint, checkov and role tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools.sam_translate import translate
from tests.support import ROOT

BIN = Path(sys.executable).parent

# Each function of the stack and the role it runs as (infra/template.yaml).
FUNCTION_ROLES = {
    "APIHandler": "ApiHandlerRole",
    "RouteInboundMail": "RouteInboundMailRole",
    "HandleDeliveryEvents": "HandleDeliveryEventsRole",
    "SendAccountMail": "SendAccountMailRole",
    "AttachmentDownload": "AttachmentDownloadRole",
    "WriteAuditDigests": "AuditDigestRole",
}


@dataclass(frozen=True)
class MergedPackage:
    directory: Path  # sam.yaml and deployment.zip
    template: dict[str, Any]

    @property
    def sam(self) -> Path:
        return self.directory / "sam.yaml"

    @property
    def deployment_zip(self) -> Path:
        return self.directory / "deployment.zip"

    @property
    def translated(self) -> Path:
        """The template after CloudFormation's SAM transform (no AWS::Serverless::* left)."""
        return self.directory / "translated.json"


def build_package(work: Path) -> MergedPackage:
    """Run ``chalice package --stage prod`` on a copy of the app in ``work``; the merged template, parsed."""
    # Chalice builds the deployment zip with the requirements; the template does not
    # depend on them, so an empty requirements file keeps this fast and offline.
    project = work / "project"
    project.mkdir()
    shutil.copy(ROOT / "app.py", project)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployments"))
    (project / "requirements.txt").write_text("")
    out = work / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [
            str(BIN / "chalice"),
            "package",
            "--stage",
            "prod",
            "--template-format",
            "yaml",
            "--merge-template",
            str(ROOT / "infra" / "template.yaml"),
            str(out),
        ],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    template = yaml.load((out / "sam.yaml").read_text(), Loader=yaml.SafeLoader)
    (out / "translated.json").write_text(json.dumps(translate(template), indent=1))
    return MergedPackage(out, template)
