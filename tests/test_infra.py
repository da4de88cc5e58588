"""The CloudFormation template: required protections, cfn-lint clean when merged with Chalice's,
and the local stand-in built from it matches it (no drift)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from chalicelib.audit.layout import PERIOD_MINUTES
from chalicelib.audit.records import (
    RECORD_COLUMNS,
    RECORDS_PREFIX,
    SHARDS,
    Actor,
    AuditEvent,
    AuditRecord,
    Outcome,
    RequestInfo,
    record_key,
)
from chalicelib.settings import Settings, Spec, specs
from devtools.provision import CREATORS, NOT_LOCAL, load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: spec["Properties"] for name, spec in RESOURCES.items() if spec["Type"] == kind}


# --- the template itself ------------------------------------------------------------------


def test_every_resource_type_is_either_created_locally_or_explained() -> None:
    for name, spec in RESOURCES.items():
        assert spec["Type"] in CREATORS or spec["Type"] in NOT_LOCAL, name


def test_kms_keys_rotate() -> None:
    for name, props in of_type("AWS::KMS::Key").items():
        if props.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            assert props["EnableKeyRotation"] is True, name


def test_tables_have_ttl_point_in_time_recovery_and_kms_encryption() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert tables
    for name, props in tables.items():
        assert props["TimeToLiveSpecification"]["Enabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True and props["SSESpecification"]["SSEType"] == "KMS"


def test_buckets_block_public_access_version_and_encrypt_with_kms() -> None:
    buckets = of_type("AWS::S3::Bucket")
    assert buckets
    for name, props in buckets.items():
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert props["VersioningConfiguration"]["Status"] == "Enabled", name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name


def test_every_bucket_has_a_policy_denying_non_tls_access() -> None:
    policies = {props["Bucket"]["Ref"]: props["PolicyDocument"] for props in of_type("AWS::S3::BucketPolicy").values()}
    for bucket in of_type("AWS::S3::Bucket"):
        statements = policies[bucket]["Statement"]
        deny = [s for s in statements if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool")]
        assert deny and deny[0]["Condition"]["Bool"] == {"aws:SecureTransport": "false"}, bucket
        assert deny[0]["Action"] == "s3:*"


def test_the_audit_bucket_locks_records_in_compliance_mode_for_six_years() -> None:
    audit = RESOURCES["AuditBucket"]["Properties"]
    assert audit["ObjectLockEnabled"] is True
    retention = audit["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["Days"] == {"Ref": "AuditRetentionDays"}
    assert TEMPLATE["Parameters"]["AuditRetentionDays"]["Default"] == 2192


def test_the_function_environment_is_what_settings_read() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    # Each variable resolved to the parameter's default (or a sample for resource names).
    parameters = TEMPLATE["Parameters"]
    fake = {}
    for name, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        fake[name] = str(parameters[ref]["Default"]) if ref in parameters else "sample-value"
    fake["SEALPOST_KMS_KEY_ARN"] = "arn:aws:kms:us-east-1:123456789012:key/x"
    Settings.from_env(fake)  # no setting the code needs is missing from the template


# --- cfn-lint on the merged template -------------------------------------------------------


@pytest.mark.slow
def test_cfn_lint_passes_on_the_merged_template(tmp_path: Path) -> None:
    # Chalice builds the deployment zip with the requirements; the template does not
    # depend on them, so an empty requirements file keeps this test fast and offline.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "app.py", project)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployments"))
    (project / "requirements.txt").write_text("")
    out = tmp_path / "out"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [
            str(bin_dir / "chalice"),
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
    merged = yaml.load((out / "sam.yaml").read_text(), Loader=yaml.SafeLoader)
    assert "AuditBucket" in merged["Resources"] and "APIHandler" in merged["Resources"]
    role = merged["Resources"]["DefaultRole"]["Properties"]["Policies"][0]
    assert role["PolicyName"] == "SealpostFunctions"
    lint = subprocess.run(
        [str(bin_dir / "cfn-lint"), str(out / "sam.yaml")], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # What ships: the app and chalicelib only; the local-only code stays in devtools.
    with zipfile.ZipFile(out / "deployment.zip") as package:
        shipped = [name for name in package.namelist() if not name.endswith("/")]
    assert "app.py" in shipped
    # (Chalice adds its own runtime, chalice/app.py and chalice/__init__.py.)
    assert all(name == "app.py" or name.startswith(("chalicelib/", "chalice/")) for name in shipped), shipped
    assert not [name for name in shipped if "local_mail" in name or "seed" in name]


def test_the_deployed_app_serves_no_local_only_page() -> None:
    from app import app

    assert not [path for path in app.routes if path.startswith("/local")]


# --- the local stand-in matches the template -----------------------------------------------


def test_local_tables_match_the_template(stack: Any) -> None:
    ddb = stack.client("dynamodb")
    for name, props in of_type("AWS::DynamoDB::Table").items():
        table_name = stack.provisioned.physical[name]
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert table["KeySchema"] == props["KeySchema"], name
        assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == sorted(
            i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])
        )
        assert table["SSEDescription"]["Status"] == "ENABLED"
        ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
        backups = ddb.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_local_buckets_match_the_template(stack: Any) -> None:
    s3 = stack.client("s3")
    for name, props in of_type("AWS::S3::Bucket").items():
        bucket = stack.provisioned.physical[name]
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        if props.get("ObjectLockEnabled"):
            lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            retention = lock["Rule"]["DefaultRetention"]
            assert retention["Mode"] == "COMPLIANCE" and retention["Days"] == 2192


def test_local_keys_rotate(stack: Any) -> None:
    kms = stack.client("kms")
    key_id = stack.provisioned.physical["DataKey"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_audit_object_versions_cannot_be_deleted(stack: Any) -> None:
    s3 = stack.client("s3")
    put = s3.put_object(Bucket=stack.audit_bucket, Key="records/x.jsonl", Body=b"{}\n", ServerSideEncryption="aws:kms")
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=stack.audit_bucket, Key="records/x.jsonl", VersionId=put["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=stack.audit_bucket, Key="records/x.jsonl", VersionId=put["VersionId"])


# --- the audit trail: digest signing, Athena over the records ------------------------------------


def test_the_glue_table_has_exactly_the_record_columns_in_order() -> None:
    table = RESOURCES["AuditRecordsTable"]["Properties"]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == list(RECORD_COLUMNS)


def test_the_glue_table_projects_the_partitions_of_the_record_keys() -> None:
    table = RESOURCES["AuditRecordsTable"]["Properties"]["TableInput"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour", "shard"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.shard.range"] == f"0,{SHARDS - 1}"
    assert parameters["projection.hour.range"] == "0,23"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    template = parameters["storage.location.template"]["Fn::Sub"]
    assert table["StorageDescriptor"]["Location"]["Fn::Sub"] == f"s3://${{AuditBucket}}/{RECORDS_PREFIX}"
    # A key the writer makes lies in the folder the projection names for its dt, hour and shard.
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    record = AuditRecord(moment, AuditEvent.ACCESS_DENIED, Outcome.DENIED, Actor.anonymous(), RequestInfo("r"))
    key = record_key(record, "0f" * 16)
    folder = template.replace("s3://${AuditBucket}/", "").replace("${!dt}", "2026-03-04").replace("${!hour}", "05")
    assert key.startswith(folder.replace("${!shard}", f"{int('0f0f0f0f', 16) % SHARDS:02d}"))


def test_digests_are_signed_with_an_ecc_p384_key_that_outlives_the_stack() -> None:
    key = RESOURCES["AuditSigningKey"]
    assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("ECC_NIST_P384", "SIGN_VERIFY")
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SEALPOST_AUDIT_SIGNING_KEY_ARN"] == {"Fn::GetAtt": ["AuditSigningKey", "Arn"]}
    assert variables["SEALPOST_AUDIT_DIGEST_MINUTES"] == {"Ref": "AuditDigestMinutes"}


def test_the_digest_period_parameter_allows_exactly_the_supported_lengths() -> None:
    parameter = TEMPLATE["Parameters"]["AuditDigestMinutes"]
    assert tuple(parameter["AllowedValues"]) == PERIOD_MINUTES and parameter["Default"] == 60


def _statements(role: str = "DefaultRole") -> dict[str, dict[str, Any]]:
    policy = RESOURCES[role]["Properties"]["Policies"][0]["PolicyDocument"]
    return {s["Sid"]: s for s in policy["Statement"]}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> str:
    return repr(statement["Resource"])


def test_the_functions_may_add_and_read_audit_objects_but_never_delete_or_unlock_them() -> None:
    statements = _statements()
    for sid, statement in statements.items():
        assert statement["Effect"] == "Allow", sid
        for action in _actions(statement):
            assert action not in ("s3:*", "s3:BypassGovernanceRetention", "s3:PutBucketVersioning"), sid
            assert not action.startswith(("s3:PutObjectRetention", "s3:PutObjectLegalHold")), sid
            # Deleting is allowed only for staged uploads (plaintext must not linger there).
            if action.startswith("s3:Delete"):
                assert _resources(statement) == repr({"Fn::Sub": "${StagingBucket.Arn}/uploads/*"}), sid
    audit_puts = [
        s["Resource"]["Fn::Sub"]
        for s in statements.values()
        if "s3:PutObject" in _actions(s) and "AuditBucket" in _resources(s)
    ]
    assert audit_puts == ["${AuditBucket.Arn}/records/*"]  # records only; digests are the digest writer's


def test_only_the_digest_writer_may_sign_and_add_digests() -> None:
    default = _statements()
    assert not any(a.startswith("kms:Sign") for s in default.values() for a in _actions(s))
    assert not any("digests" in _resources(s) for s in default.values())
    writer = _statements("AuditDigestRole")
    puts = sorted(s["Resource"]["Fn::Sub"] for s in writer.values() if "s3:PutObject" in _actions(s))
    assert puts == ["${AuditBucket.Arn}/digests/*", "${AuditBucket.Arn}/records/*"]
    assert RESOURCES["WriteAuditDigests"]["Properties"]["Role"] == {"Fn::GetAtt": ["AuditDigestRole", "Arn"]}


def test_no_function_may_delete_message_ciphertext() -> None:
    for sid, statement in _statements().items():
        if "MessagesBucket" in _resources(statement) or "MessagesAccessPoint" in _resources(statement):
            assert not any(a.startswith("s3:Delete") for a in _actions(statement)), sid


def test_only_the_signing_key_may_sign_and_only_with_sign_and_get_public_key() -> None:
    signing = [s for s in _statements("AuditDigestRole").values() if any(a.startswith("kms:Sign") for a in _actions(s))]
    assert len(signing) == 1
    assert sorted(_actions(signing[0])) == ["kms:GetPublicKey", "kms:Sign"]
    assert signing[0]["Resource"] == {"Fn::GetAtt": ["AuditSigningKey", "Arn"]}
    listing = _statements("AuditDigestRole")["AuditDigestList"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["records/*", "digests/*"]


def test_local_glue_table_matches_the_template(stack: Any) -> None:
    glue = stack.client("glue")
    database = stack.provisioned.physical["AuditDatabase"]
    table = glue.get_table(DatabaseName=database, Name="records")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == list(RECORD_COLUMNS)
    assert table["Parameters"]["storage.location.template"] == (
        f"s3://{stack.audit_bucket}/records/dt=${{dt}}/hour=${{hour}}/shard=${{shard}}/"
    )


def test_local_signing_key_is_an_asymmetric_signing_key(stack: Any) -> None:
    key = stack.client("kms").describe_key(KeyId=stack.env["SEALPOST_AUDIT_SIGNING_KEY_ARN"])["KeyMetadata"]
    assert (key["KeySpec"], key["KeyUsage"], key["SigningAlgorithms"]) == (
        "ECC_NIST_P384",
        "SIGN_VERIFY",
        ["ECDSA_SHA_384"],
    )


# --- the settings table and the stack parameters agree ---------------------------------------


def _parameter_problems(name: str, spec: Spec) -> list[str]:
    """How the template's parameter for setting ``name`` differs from the table, if at all."""
    parameter = TEMPLATE["Parameters"].get(spec.parameter)
    if parameter is None:
        return [f"{name}: the template has no parameter {spec.parameter}"]
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    wanted: dict[str, Any] = {}  # the parameter's properties, in the variable's unit like the table
    if spec.default is not None:
        wanted["Default"] = str(spec.default).lower() if spec.kind == "flag" else spec.default
    if spec.kind == "integer":
        wanted["Type"] = "Number"
        if spec.choices:
            wanted["AllowedValues"] = list(spec.choices)
        else:
            wanted |= {"MinValue": spec.low, "MaxValue": spec.high}
    else:
        wanted["Type"] = "String"
    if spec.kind == "flag":
        wanted["AllowedValues"] = ["true", "false"]
    if spec.kind == "choice":
        wanted["AllowedValues"] = list(spec.choices)
    if spec.longest is not None:
        wanted["MaxLength"] = spec.longest
    problems = [
        f"{name}: parameter {spec.parameter} has {key} {parameter.get(key)!r}, the setting {value!r}"
        for key, value in wanted.items()
        if parameter.get(key) != value
    ]
    if not str(parameter.get("Description", "")).strip():
        problems.append(f"{name}: parameter {spec.parameter} has no Description")
    if variables.get(spec.variable) != {"Ref": spec.parameter}:
        problems.append(
            f"{name}: Globals {spec.variable} is {variables.get(spec.variable)!r}, not Ref {spec.parameter}"
        )
    return problems


def test_every_operator_setting_is_a_stack_parameter_with_its_default_and_bounds() -> None:
    operator = {name: spec for name, spec in specs().items() if spec.parameter}
    assert {"lockout_threshold", "session_idle_seconds", "max_mail_bytes", "credential_scope"} <= set(operator)
    problems = [problem for name, spec in operator.items() for problem in _parameter_problems(name, spec)]
    assert not problems, "\n".join(problems)


def test_the_functions_get_no_parameter_or_variable_that_the_settings_ignore() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    by_variable = {spec.variable: (name, spec) for name, spec in specs().items()}
    problems = [
        f"Globals {variable} is no setting of chalicelib/settings.py"
        for variable in variables
        if variable not in by_variable
    ]
    for variable, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in TEMPLATE["Parameters"] and variable in by_variable:
            name, spec = by_variable[variable]
            if spec.parameter != ref:
                problems.append(f"{name}: Globals {variable} refers to {ref}, but the setting names {spec.parameter}")
    assert not problems, "\n".join(problems)
    assert len(TEMPLATE["Parameters"]) <= 200  # CloudFormation's limit
