"""The CloudFormation template: required protections, cfn-lint clean when merged with Chalice's,
and the local stand-in built from it matches it (no drift)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

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
from devtools.provision import CREATORS, NOT_LOCAL, Provisioner, load_template
from tests.packaging import BIN, FUNCTION_ROLES

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
        expected_encryption = "aws:kms"
        if name == "AccessLogsBucket":  # S3's log delivery: request metadata, no PHI (the template says why)
            expected_encryption = "AES256"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert props["VersioningConfiguration"]["Status"] == "Enabled", name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == expected_encryption, name


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


# --- cfn-lint and checkov on the merged template and on its translated form ------------------

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.slow
def test_cfn_lint_with_every_rule_passes_on_the_merged_and_the_translated_template(merged_package: Any) -> None:
    merged = merged_package.template
    assert "AuditBucket" in merged["Resources"] and "APIHandler" in merged["Resources"]
    # Chalice manages no role (.chalice/config.json): every function runs as its own role.
    assert "DefaultRole" not in merged["Resources"]
    translated = json.loads(merged_package.translated.read_text())
    assert not [r for r in translated["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert translated["Resources"]["APIHandler"]["Type"] == "AWS::Lambda::Function"
    lint = subprocess.run(
        [str(BIN / "cfn-lint"), "--include-checks", "I", "--", str(merged_package.sam), str(merged_package.translated)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # What ships: the app and chalicelib only; the local-only code stays in devtools.
    with zipfile.ZipFile(merged_package.deployment_zip) as package:
        shipped = [name for name in package.namelist() if not name.endswith("/")]
    assert "app.py" in shipped
    # (Chalice adds its own runtime, chalice/app.py and chalice/__init__.py.)
    assert all(name == "app.py" or name.startswith(("chalicelib/", "chalice/")) for name in shipped), shipped
    assert not [name for name in shipped if "local_mail" in name or "seed" in name]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sam", "translated"])
def test_checkov_fails_no_check_on_the_merged_and_the_translated_template(merged_package: Any, form: str) -> None:
    assert CHECKOV.exists(), "checkov is missing: `make test` builds .venv-checkov from requirements-checkov.txt"
    # One file per run, --quiet: checkov 3.3.30's JSON report fails (a tuple as a key) on two files,
    # or when it lists the passed checks of this template; the summary still counts them.
    template = str(getattr(merged_package, form))
    scan = subprocess.run(
        [str(CHECKOV), "--quiet", "--compact", "--output", "json", "--framework", "cloudformation", "--file", template],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert scan.stdout.startswith("{"), scan.stdout[-2000:] + scan.stderr[-2000:]
    report = json.loads(scan.stdout)
    summary, results = report["summary"], report["results"]
    failed = [(check["check_id"], check["resource"]) for check in results["failed_checks"]]
    assert not failed, failed
    assert summary["failed"] == summary["parsing_errors"] == 0
    # The template was read whole (the translated form has more, plainer resources), and the
    # skips were seen (each has its reason next to the resource: the test below).
    resources = json.loads(merged_package.translated.read_text())["Resources"] if form == "translated" else None
    expected = len(resources) if resources else len(merged_package.template["Resources"])
    assert summary["resource_count"] == expected and summary["passed"] > 100 and summary["skipped"] >= 20
    assert scan.returncode == 0, scan.stderr


def _checkov_skips(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return list(resource.get("Metadata", {}).get("checkov", {}).get("skip", []))


def test_every_checkov_skip_in_the_template_names_a_check_and_gives_a_reason() -> None:
    skips = {name: _checkov_skips(resource) for name, resource in TEMPLATE["Resources"].items()}
    assert skips["APIHandler"] and skips["AttachmentDownloadUrl"] and skips["RestAPI"]
    for name, entries in skips.items():
        for entry in entries:
            assert set(entry) == {"id", "comment"}, (name, entry)
            assert entry["id"].startswith("CKV_AWS_") and len(entry["comment"]) > 60, (name, entry)
        assert len({entry["id"] for entry in entries}) == len(entries), name
    # What a reviewer would not accept is not skipped anywhere: data encrypted at rest, no public
    # bucket, no wildcard action in a role.
    never = {"CKV_AWS_19", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV_AWS_28", "CKV_AWS_108"}
    assert not [(name, e["id"]) for name, entries in skips.items() for e in entries if e["id"] in never]


def test_the_clear_404_for_unknown_paths_lives_in_the_api_body() -> None:
    # A separate AWS::ApiGateway::GatewayResponse is dropped when a redeploy overwrites the body.
    assert not [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::ApiGateway::GatewayResponse"]
    body = TEMPLATE["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    missing = body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    body_404 = missing["responseTemplates"]["application/json"].replace("$context.requestId", "id")
    assert json.loads(body_404)["error"] == "not_found"
    assert "gatewayresponse.header.Content-Security-Policy" in missing["responseParameters"]


def test_every_data_bucket_logs_its_requests_to_the_access_log_bucket() -> None:
    resources = TEMPLATE["Resources"]
    buckets = [name for name, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and name != "AccessLogsBucket"]
    assert set(buckets) == {"MessagesBucket", "StagingBucket", "AuditBucket", "InboundBucket"}
    prefixes = []
    for name in buckets:
        logging = resources[name]["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}
        prefixes.append(logging["LogFilePrefix"])
    assert len(set(prefixes)) == len(buckets)  # each bucket's logs apart
    logs = resources["AccessLogsBucket"]
    assert logs["DeletionPolicy"] == "Retain" and "LoggingConfiguration" not in logs["Properties"]
    assert logs["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    statements = resources["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"} and delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_deployed_app_serves_no_local_only_page() -> None:
    from app import app

    assert not [path for path in app.routes if path.startswith("/local")]


# --- downloads stream through a function URL; every function is sized and logs -------------

FUNCTIONS = (
    "APIHandler", "RouteInboundMail", "HandleDeliveryEvents", "SendAccountMail", "AttachmentDownload",
    "WriteAuditDigests",
)  # fmt: skip


def test_the_template_holds_no_s3_object_lambda_resource(merged_package: Any) -> None:
    kinds = {spec["Type"] for spec in merged_package.template["Resources"].values()}
    assert not [kind for kind in kinds if kind.startswith("AWS::S3ObjectLambda::")]
    assert "AWS::S3::AccessPoint" not in kinds


def test_downloads_stream_through_a_public_function_url_that_only_grants_open(merged_package: Any) -> None:
    resources = merged_package.template["Resources"]
    function = resources["AttachmentDownload"]["Properties"]
    assert function["Handler"] == "chalicelib/web/download_server.sh" and function["CodeUri"] == "./deployment.zip"
    assert function["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert function["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert "LambdaAdapterLayerX86" in json.dumps(function["Layers"])
    url = resources["AttachmentDownloadUrl"]["Properties"]
    assert url == {
        "TargetFunctionArn": {"Fn::GetAtt": ["AttachmentDownload", "Arn"]},
        "AuthType": "NONE",
        "InvokeMode": "RESPONSE_STREAM",
    }
    permissions = [s["Properties"] for s in resources.values() if s["Type"] == "AWS::Lambda::Permission"]
    public = [p for p in permissions if p.get("Principal") == "*"]
    # Both permissions a public URL needs, each only through the URL.
    assert {p["Action"] for p in public} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for permission in public:
        assert permission["FunctionName"] == {"Ref": "AttachmentDownload"}
        assert permission.get("FunctionUrlAuthType") == "NONE" or permission.get("InvokedViaFunctionUrl") is True
    api = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["SEALPOST_DOWNLOAD_URL"] == {"Fn::GetAtt": ["AttachmentDownloadUrl", "FunctionUrl"]}


def test_the_download_functions_start_script_ships_executable(merged_package: Any) -> None:
    with zipfile.ZipFile(merged_package.deployment_zip) as package:
        info = package.getinfo("chalicelib/web/download_server.sh")
    assert (info.external_attr >> 16) & 0o111 == 0o111, oct(info.external_attr >> 16)


def test_every_function_has_its_memory_time_and_an_encrypted_log_group_with_retention(merged_package: Any) -> None:
    resources = merged_package.template["Resources"]
    for name in FUNCTIONS:
        function = resources[name]["Properties"]
        assert function["MemorySize"] >= 256 and function["Timeout"] >= 29, name
        group = resources[function["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup" and group["DeletionPolicy"] == "Retain", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, name
    # The API answers within API Gateway's 29 seconds; the download has time for 100 MB at 2 MB/s.
    assert resources["APIHandler"]["Properties"]["Timeout"] <= 29
    assert resources["AttachmentDownload"]["Properties"]["Timeout"] >= 100


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
        wanted = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == wanted["SSEAlgorithm"]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        if props.get("ObjectLockEnabled"):
            lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            retention = lock["Rule"]["DefaultRetention"]
            assert retention["Mode"] == "COMPLIANCE" and retention["Days"] == 2192


def test_local_keys_rotate(stack: Any) -> None:
    kms = stack.client("kms")
    for key in ("DataKey", "BackupKey"):
        assert kms.get_key_rotation_status(KeyId=stack.provisioned.physical[key])["KeyRotationEnabled"] is True


def test_local_backup_vault_is_encrypted_and_locked_and_the_plan_keeps_the_retention(stack: Any) -> None:
    backup = stack.client("backup")
    vault = backup.describe_backup_vault(BackupVaultName=stack.provisioned.physical["BackupVault"])
    assert vault["EncryptionKeyArn"] == stack.provisioned.attributes[("BackupKey", "Arn")]
    assert vault["Locked"] is True and vault["MinRetentionDays"] == 35
    (rule,) = backup.get_backup_plan(BackupPlanId=stack.provisioned.physical["TablesBackupPlan"])["BackupPlan"]["Rules"]
    assert rule["TargetBackupVaultName"] == vault["BackupVaultName"]
    assert rule["Lifecycle"] == {"DeleteAfterDays": 35} and "CopyActions" not in rule
    for bucket in ("MessagesBucket", "AuditBucket"):
        with pytest.raises(ClientError):  # no replica without a destination
            stack.client("s3").get_bucket_replication(Bucket=stack.provisioned.physical[bucket])


def test_local_stand_in_copies_backups_and_replicates_buckets_when_told_where() -> None:
    parameters = {
        "BackupRetentionDays": "90",
        "BackupCopyVaultArn": "arn:aws:backup:us-west-2:123456789012:backup-vault:sealpost-copies",
        "MessagesReplicaBucketArn": "arn:aws:s3:::sealpost-messages-replica",
        "AuditReplicaBucketArn": "arn:aws:s3:::sealpost-audit-replica",
        "ReplicaKmsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/0f0f0f0f-0000-4000-8000-000000000000",
    }
    with mock_aws():
        made = Provisioner().provision("sealpost-test", parameters=parameters)
        backup = boto3.client("backup", region_name="us-east-1")
        (rule,) = backup.get_backup_plan(BackupPlanId=made.physical["TablesBackupPlan"])["BackupPlan"]["Rules"]
        assert rule["Lifecycle"] == {"DeleteAfterDays": 90}
        assert rule["CopyActions"] == [
            {"DestinationBackupVaultArn": parameters["BackupCopyVaultArn"], "Lifecycle": {"DeleteAfterDays": 90}}
        ]
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket, replica in (
            ("MessagesBucket", "MessagesReplicaBucketArn"),
            ("AuditBucket", "AuditReplicaBucketArn"),
        ):
            (replication,) = s3.get_bucket_replication(Bucket=made.physical[bucket])["ReplicationConfiguration"][
                "Rules"
            ]
            assert replication["Destination"]["Bucket"] == parameters[replica]
            assert replication["DeleteMarkerReplication"] == {"Status": "Disabled"}


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


# --- one role per function, and what no role may do -----------------------------------------

KEYS = ("DataKey", "AuditSigningKey", "BackupKey")
CRYPTOGRAPHIC = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:GenerateDataKey", "kms:Sign", "kms:Verify")


def _statements(role: str) -> dict[str, dict[str, Any]]:
    policy = RESOURCES[role]["Properties"]["Policies"][0]["PolicyDocument"]
    return {s["Sid"]: s for s in policy["Statement"]}


def _key_statements(key: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in RESOURCES[key]["Properties"]["KeyPolicy"]["Statement"] if "Sid" in s}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _resources(statement: dict[str, Any]) -> str:
    return repr(statement["Resource"])


def test_each_function_runs_as_a_role_of_its_own() -> None:
    for function, role in FUNCTION_ROLES.items():
        assert RESOURCES[function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}, function
        assert RESOURCES[role]["Type"] == "AWS::IAM::Role"
        trust = RESOURCES[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    assert len(set(FUNCTION_ROLES.values())) == len(FUNCTION_ROLES)
    assert "DefaultRole" not in RESOURCES  # Chalice manages no role (.chalice/config.json)


def test_the_functions_may_add_and_read_audit_objects_but_never_delete_or_unlock_them() -> None:
    for role in FUNCTION_ROLES.values():
        statements = _statements(role)
        for sid, statement in statements.items():
            assert statement["Effect"] == "Allow", (role, sid)
            for action in _actions(statement):
                assert action not in ("s3:*", "s3:BypassGovernanceRetention", "s3:PutBucketVersioning"), (role, sid)
                assert not action.startswith(("s3:PutObjectRetention", "s3:PutObjectLegalHold")), (role, sid)
                assert not action.startswith(("s3:PutLifecycle", "s3:PutBucket", "s3:DeleteBucket")), (role, sid)
                # Deleting is allowed only for staged uploads (plaintext must not linger there).
                if action.startswith("s3:Delete"):
                    assert role == "ApiHandlerRole" and action == "s3:DeleteObjectVersion", (role, sid)
                    assert "-staging-" in _resources(statement) and _resources(statement).endswith("/uploads/*'}"), sid
        audit_puts = sorted(
            s["Resource"]["Fn::Sub"].rsplit("/", 2)[-2]
            for s in statements.values()
            if "s3:PutObject" in _actions(s) and "-audit-" in _resources(s)
        )
        # Records only; digests are the digest writer's.
        assert audit_puts == (["digests", "records"] if role == "AuditDigestRole" else ["records"]), role


def test_only_the_digest_writer_may_sign_and_add_digests() -> None:
    for role in FUNCTION_ROLES.values():
        if role != "AuditDigestRole":
            assert not any("digests" in _resources(s) for s in _statements(role).values()), role
    signing = [
        (key, sid, s)
        for key in KEYS
        for sid, s in _key_statements(key).items()
        if any(a.startswith(("kms:Sign", "kms:*")) for a in _actions(s))
    ]
    assert [(key, sid) for key, sid, _ in signing] == [("AuditSigningKey", "DigestWriterSigns")]
    assert signing[0][2]["Principal"] == {"AWS": {"Fn::GetAtt": ["AuditDigestRole", "Arn"]}}


def test_no_function_may_delete_message_ciphertext() -> None:
    for role in FUNCTION_ROLES.values():
        for sid, statement in _statements(role).items():
            if "-messages-" in _resources(statement) or "MessagesAccessPoint" in _resources(statement):
                assert not any(a.startswith("s3:Delete") for a in _actions(statement)), (role, sid)


def test_no_function_reaches_the_object_lambda_download_path() -> None:
    for role in FUNCTION_ROLES.values():
        for sid, statement in _statements(role).items():
            for action in _actions(statement):
                assert not action.startswith(("s3-object-lambda:", "lambda:")), (role, sid)
            assert "MessagesAccessPoint" not in _resources(statement), (role, sid)


def test_kms_permissions_live_in_the_key_policies_only() -> None:
    # A key policy that names each role is the one place that says who may use a key.
    for role in [*FUNCTION_ROLES.values(), "BackupRole", "ReplicationRole"]:
        for policy in RESOURCES[role]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if role == "ReplicationRole" and statement["Sid"] == "ReplicaEncryption":
                    continue  # the replicas' key is in another Region, outside this stack
                assert not any(a.startswith("kms:") for a in _actions(statement)), (role, statement["Sid"])


def test_the_signing_key_signs_only_for_the_digest_writer_and_shows_its_public_key_to_verifiers() -> None:
    statements = _key_statements("AuditSigningKey")
    signs = statements["DigestWriterSigns"]
    assert _actions(signs) == ["kms:Sign"]
    assert signs["Condition"] == {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_384", "kms:MessageType": "RAW"}}
    public = statements["VerifiersGetThePublicKey"]
    assert _actions(public) == ["kms:GetPublicKey"]
    assert public["Principal"]["AWS"] == [
        {"Fn::GetAtt": ["AuditDigestRole", "Arn"]},
        {"Ref": "KeyAdministratorRoleArn"},
        {"Fn::If": ["HasAuditorRole", {"Ref": "AuditorRoleArn"}, {"Ref": "AWS::NoValue"}]},
    ]
    assert set(statements) == {"KeyAdministrators", "AccountKeepsTheKeyManageable", "DigestWriterSigns", public["Sid"]}
    listing = _statements("AuditDigestRole")["AuditDigestList"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["records/*", "digests/*"]


# --- the keys: administered by administrators, used by exactly the roles that need them ------------


def test_key_administrators_administer_and_never_use_or_delete_the_keys() -> None:
    administration = _actions(_key_statements("DataKey")["KeyAdministrators"])
    # The deploying administrator can change the policy again (KMS's lockout safety check).
    assert {"kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey", "kms:CreateAlias"} <= set(administration)
    for action in administration:
        assert not action.startswith(CRYPTOGRAPHIC) and "*" not in action, action
        assert action not in ("kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:DisableKeyRotation"), action
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    for key in KEYS:
        statements = _key_statements(key)
        assert statements["KeyAdministrators"]["Principal"] == {"AWS": {"Ref": "KeyAdministratorRoleArn"}}
        assert statements["AccountKeepsTheKeyManageable"]["Principal"] == root, key
        for sid in ("KeyAdministrators", "AccountKeepsTheKeyManageable"):
            assert _actions(statements[sid]) == administration, (key, sid)
            assert "Condition" not in statements[sid]
        for sid, statement in statements.items():
            assert statement["Effect"] == "Allow", (key, sid)
            assert "kms:*" not in _actions(statement) and "kms:ScheduleKeyDeletion" not in _actions(statement)
            if statement["Principal"] == root:
                assert sid == "AccountKeepsTheKeyManageable", (key, sid)  # the account never uses a key


def test_the_operator_uses_the_data_key_only_through_the_stacks_tables_and_the_audit_bucket() -> None:
    statements = {
        s["Fn::If"][1]["Sid"]: s["Fn::If"]
        for s in RESOURCES["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
        if "Fn::If" in s and s["Fn::If"][0] == "HasOperatorRole"
    }
    assert set(statements) == {
        "OperatorUsesTheStackTables",
        "OperatorWritesAuditRecords",
        "OperatorRedrivesTheMailQueues",
    }
    for condition, statement, absent in statements.values():
        assert condition == "HasOperatorRole" and absent == {"Ref": "AWS::NoValue"}
        assert statement["Principal"] == {"AWS": {"Ref": "OperatorRoleArn"}}
    tables = statements["OperatorUsesTheStackTables"][1]
    # Decrypt only, through DynamoDB only, for the stack's tables and their restored copies
    # (sealpost-admin restore-table reads <stack>-<table>-restored).
    assert _actions(tables) == ["kms:Decrypt"]
    assert tables["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}},
        "StringLike": {"kms:EncryptionContext:aws:dynamodb:tableName": {"Fn::Sub": "${AWS::StackName}-*"}},
    }
    audit = statements["OperatorWritesAuditRecords"][1]
    assert _actions(audit) == ["kms:GenerateDataKey"]
    assert audit["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}
    # A redrive receives from a dead-letter queue (decrypt) and sends to its source queue (encrypt).
    redrive = statements["OperatorRedrivesTheMailQueues"][1]
    assert _actions(redrive) == ["kms:Decrypt", "kms:GenerateDataKey"]
    through_sqs = redrive["Condition"]["StringEquals"]
    assert through_sqs["kms:ViaService"] == {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}
    queues = [a["Fn::Sub"].split(":${AWS::AccountId}:")[1] for a in through_sqs["kms:EncryptionContext:aws:sqs:arn"]]
    named = [RESOURCES[q]["Properties"]["QueueName"]["Fn::Sub"] for q in of_type("AWS::SQS::Queue")]
    assert sorted(queues) == sorted(named)


def test_every_use_of_a_key_is_bound_to_a_service_a_context_or_a_source() -> None:
    binding = ("kms:ViaService", "kms:EncryptionContext:", "aws:SourceArn", "kms:SigningAlgorithm")
    for key in KEYS:
        for statement in RESOURCES[key]["Properties"]["KeyPolicy"]["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            if not any(a.startswith(CRYPTOGRAPHIC) or a == "kms:CreateGrant" for a in _actions(statement)):
                continue
            keys = [k for operator in statement.get("Condition", {}).values() for k in operator]
            assert any(k.startswith(binding) for k in keys), (key, statement["Sid"])
            if "kms:CreateGrant" in _actions(statement):
                assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}, statement["Sid"]


def test_the_key_administrator_is_a_required_parameter() -> None:
    parameter = TEMPLATE["Parameters"]["KeyAdministratorRoleArn"]
    assert "Default" not in parameter and parameter["AllowedPattern"].startswith("^arn:aws")
    for optional in ("AuditorRoleArn", "OperatorRoleArn"):
        assert TEMPLATE["Parameters"][optional]["Default"] == ""


# --- keys and data outlive mistakes; backups and replicas ---------------------------------------


def test_keys_tables_buckets_and_the_backup_vault_are_kept_when_the_stack_goes() -> None:
    kept = ("AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Backup::BackupVault")
    found = [name for name, spec in RESOURCES.items() if spec["Type"] in kept]
    assert len(found) == 3 + 5 + 5 + 1  # keys, tables, buckets (four for data, one for their access logs), vault
    for name in found:
        spec = RESOURCES[name]
        assert spec["DeletionPolicy"] == spec["UpdateReplacePolicy"] == "Retain", name
    for key in KEYS:
        assert RESOURCES[key]["Properties"]["PendingWindowInDays"] == 30


def test_every_table_is_backed_up_daily_into_an_encrypted_locked_vault() -> None:
    vault = RESOURCES["BackupVault"]["Properties"]
    assert vault["EncryptionKeyArn"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
    assert vault["LockConfiguration"] == {"MinRetentionDays": {"Ref": "BackupRetentionDays"}}
    ((rule,),) = [p["BackupPlan"]["BackupPlanRule"] for p in of_type("AWS::Backup::BackupPlan").values()]
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    assert rule["ScheduleExpression"] == "cron(0 5 ? * * *)"  # every day
    assert rule["Lifecycle"] == {"DeleteAfterDays": {"Ref": "BackupRetentionDays"}}
    retention = TEMPLATE["Parameters"]["BackupRetentionDays"]
    assert retention["Type"] == "Number" and retention["Default"] >= 35 and retention["MinValue"] >= 7
    (selection,) = [p["BackupSelection"] for p in of_type("AWS::Backup::BackupSelection").values()]
    tables = sorted(of_type("AWS::DynamoDB::Table"))
    assert sorted(r["Fn::GetAtt"][0] for r in selection["Resources"]) == tables
    assert all(r["Fn::GetAtt"][1] == "Arn" for r in selection["Resources"])
    assert selection["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}
    trust = RESOURCES["BackupRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "backup.amazonaws.com"}]
    assert "BackupRole" not in FUNCTION_ROLES.values()


def test_backups_are_copied_only_when_a_destination_vault_is_given() -> None:
    ((rule,),) = [p["BackupPlan"]["BackupPlanRule"] for p in of_type("AWS::Backup::BackupPlan").values()]
    condition, copies, otherwise = rule["CopyActions"]["Fn::If"]
    assert (condition, otherwise) == ("CopyBackups", {"Ref": "AWS::NoValue"})
    assert copies == [
        {
            "DestinationBackupVaultArn": {"Ref": "BackupCopyVaultArn"},
            "Lifecycle": {"DeleteAfterDays": {"Ref": "BackupRetentionDays"}},
        }
    ]
    assert TEMPLATE["Conditions"]["CopyBackups"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BackupCopyVaultArn"}, ""]}]}
    assert TEMPLATE["Parameters"]["BackupCopyVaultArn"]["Default"] == ""


def test_the_messages_and_audit_buckets_replicate_only_to_given_buckets_and_never_deletions() -> None:
    for bucket, parameter, condition in (
        ("MessagesBucket", "MessagesReplicaBucketArn", "ReplicateMessages"),
        ("AuditBucket", "AuditReplicaBucketArn", "ReplicateAudit"),
    ):
        props = RESOURCES[bucket]["Properties"]
        assert props["ObjectLockEnabled"] is True  # the replicas keep each version's retention
        when, replication, otherwise = props["ReplicationConfiguration"]["Fn::If"]
        assert (when, otherwise) == (condition, {"Ref": "AWS::NoValue"})
        assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        assert replication["Role"] == {"Fn::GetAtt": ["ReplicationRole", "Arn"]}
        (rule,) = replication["Rules"]
        assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
        assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        assert rule["Destination"]["Bucket"] == {"Ref": parameter}
        assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": {"Ref": "ReplicaKmsKeyArn"}}
    assert RESOURCES["ReplicationRole"]["Condition"] == "ReplicateBuckets"
    actions = {a for s in _statements("ReplicationRole").values() for a in _actions(s)}
    assert {"s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:ReplicateObject"} <= actions
    assert not any(a.startswith(("s3:Delete", "s3:ReplicateDelete", "s3:PutObject")) for a in actions)


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
    # (Powertools reads its own variables: the metrics' service and namespace.)
    problems = [
        f"Globals {variable} is no setting of chalicelib/settings.py"
        for variable in variables
        if variable not in by_variable and variable not in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")
    ]
    for variable, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in TEMPLATE["Parameters"] and variable in by_variable:
            name, spec = by_variable[variable]
            if spec.parameter != ref:
                problems.append(f"{name}: Globals {variable} refers to {ref}, but the setting names {spec.parameter}")
    assert not problems, "\n".join(problems)
    assert len(TEMPLATE["Parameters"]) <= 200  # CloudFormation's limit


def test_the_readme_configuration_table_shows_each_parameters_default() -> None:
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `") and line.count("|") >= 5
    ]
    shown = {row[0].strip("`"): row[2] for row in rows if row[0].strip("`") in TEMPLATE["Parameters"]}
    assert {"MaxAttachmentBytes", "LockoutThreshold", "MessageRetentionDays"} <= set(shown)
    problems = [
        f"README shows {name} = {default}, the template {TEMPLATE['Parameters'][name]['Default']!r}"
        for name, default in shown.items()
        if default.startswith("`") and default.strip("`") != str(TEMPLATE["Parameters"][name].get("Default"))
    ]
    assert not problems, "\n".join(problems)


# --- operations: queues, alarms, dashboard, the edge (issue 11) ----------------------------------

# The metrics contract with chalicelib/metrics.py: namespace Sealpost, one dimension `service`.
CONTRACT_METRICS = {
    "SignInSucceeded", "SignInFailed", "AccountLocked", "BreakGlassSignIn", "MessageSent", "DeliveredOverTls",
    "PickupNoticeSent", "DeliveryBounced", "MailRefused", "AccessDenied", "TamperDetected", "DigestWritten",
    "DigestRunFailed", "MfaReset",
}  # fmt: skip
# The AWS metrics the alarms and the dashboard may name, with the dimensions each takes.
AWS_METRICS = {
    "AWS/ApiGateway": ({"4XXError", "5XXError", "Latency", "IntegrationLatency", "Count"}, {"ApiName", "Stage"}),
    "AWS/Lambda": ({"Errors", "Throttles", "Invocations", "Duration"}, {"FunctionName"}),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, {"QueueName"}),
    "AWS/WAFV2": ({"BlockedRequests", "AllowedRequests", "CountedRequests"}, {"WebACL", "Region", "Rule"}),
}
MAIL_QUEUES = {  # queue -> (its dead-letter queue, its name's suffix, the function reading it, its topic)
    "InboundMailQueue": ("InboundMailDeadLetters", "inbound-mail", "RouteInboundMail", "InboundTopic"),
    "DeliveryEventsQueue": (
        "DeliveryEventsDeadLetters", "delivery-events", "HandleDeliveryEvents", "DeliveryEventsTopic"
    ),
    # Fed by the API's role (forgot password), not by a topic.
    "AccountMailQueue": ("AccountMailDeadLetters", "account-mail", "SendAccountMail", None),
}  # fmt: skip
STACK_NAME = {"Ref": "AWS::StackName"}
GLOBAL_VARIABLES = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def test_the_audit_metrics_are_the_contracts() -> None:
    from chalicelib.audit.records import METRICS

    assert set(METRICS.values()) | {"DigestWritten", "DigestRunFailed"} == CONTRACT_METRICS


def test_each_mail_queue_is_encrypted_and_redrives_to_its_dead_letter_queue_after_five_receives() -> None:
    for name, (dead_letters, suffix, _, _) in MAIL_QUEUES.items():
        queue, dlq = RESOURCES[name]["Properties"], RESOURCES[dead_letters]["Properties"]
        assert queue["QueueName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
        assert dlq["QueueName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}-dlq"}
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
            "maxReceiveCount": 5,
        }
        # A message keeps its first enqueue time in the DLQ: the DLQ keeps it longer (14 days).
        assert queue["MessageRetentionPeriod"] >= 4 * 86400 and dlq["MessageRetentionPeriod"] == 14 * 86400
        assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
        (source,) = dlq["RedriveAllowPolicy"]["sourceQueueArns"]
        assert source["Fn::Sub"].endswith(f":${{AWS::StackName}}-{suffix}")
        for spec in (RESOURCES[name], RESOURCES[dead_letters]):
            assert spec["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
            assert spec["DeletionPolicy"] == spec["UpdateReplacePolicy"] == "Retain"


def test_each_queue_hides_a_received_message_six_times_its_functions_timeout(merged_package: Any) -> None:
    resources = merged_package.template["Resources"]
    for name, (_, _, function, _) in MAIL_QUEUES.items():
        timeout = resources[function]["Properties"]["Timeout"]
        assert resources[name]["Properties"]["VisibilityTimeout"] >= 6 * timeout, name


def test_the_mail_functions_read_their_own_queue_and_report_partial_batch_failures(merged_package: Any) -> None:
    resources = merged_package.template["Resources"]
    translated = json.loads(merged_package.translated.read_text())["Resources"]
    for name, (_, suffix, function, _) in MAIL_QUEUES.items():
        spec = resources[function]
        (event,) = spec["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        queue_arn = event["Properties"]["Queue"]["Fn::Sub"]
        assert (
            queue_arn
            == f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:${{AWS::StackName}}-{suffix}"
        )
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # Chalice's Fn::Sub ARN makes no dependency: the function waits for the queue (DependsOn, or
        # the Ref of every function's environment).
        assert name in spec.get("DependsOn", []) or {"Ref": name} in GLOBAL_VARIABLES.values(), name
        (mapping,) = [
            r["Properties"]
            for r in translated.values()
            if r["Type"] == "AWS::Lambda::EventSourceMapping" and r["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["EventSourceArn"] == {"Fn::Sub": queue_arn}
    assert (
        resources["RouteInboundMail"]["Properties"]["Events"]["RouteInboundMailSqsEventSource"]["Properties"][
            "BatchSize"
        ]
        == 1
    )
    # No function is subscribed to a topic any more: the queues are.
    assert not [
        r
        for r in translated.values()
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "lambda"
    ]


def test_each_topic_feeds_its_queue_raw_and_only_it_may_send_there() -> None:
    subscriptions = {
        p["TopicArn"]["Ref"]: p for p in of_type("AWS::SNS::Subscription").values() if p["Protocol"] == "sqs"
    }
    (policy,) = of_type("AWS::SQS::QueuePolicy").values()
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert sorted(q["Ref"] for q in policy["Queues"]) == sorted(MAIL_QUEUES)
    topics = {name: topic for name, (*_, topic) in MAIL_QUEUES.items() if topic is not None}
    for name, topic in topics.items():
        subscription = subscriptions[topic]
        assert subscription["Endpoint"] == {"Fn::GetAtt": [name, "Arn"]} and subscription["RawMessageDelivery"] is True
        (allow,) = [s for s in allows if s["Resource"] == {"Fn::GetAtt": [name, "Arn"]}]
        assert allow["Principal"] == {"Service": "sns.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic}}}
    assert len(allows) == len(topics)  # no topic and no other principal may send to the account-mail queue
    # SNS may use the data key for exactly these two topics' deliveries.
    sns = _key_statements("DataKey")["SnsDeliversToTheMailQueues"]
    arns = [a["Fn::Sub"].split(":${AWS::AccountId}:")[1] for a in sns["Condition"]["ArnEquals"]["aws:SourceArn"]]
    assert arns == [RESOURCES[t]["Properties"]["TopicName"]["Fn::Sub"] for t in topics.values()]


def test_no_source_queue_takes_a_request_without_tls() -> None:
    (policy,) = of_type("AWS::SQS::QueuePolicy").values()
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert (deny["Principal"], deny["Action"]) == ("*", "sqs:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(r["Fn::GetAtt"][0] for r in deny["Resource"]) == sorted(MAIL_QUEUES)


def _alarms() -> dict[str, dict[str, Any]]:
    return of_type("AWS::CloudWatch::Alarm")


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears() -> None:
    alarms = _alarms()
    assert len(alarms) >= 19
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        # Named after the stack: the data key lets CloudWatch publish for these alarms only.
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
    publish = _key_statements("DataKey")["CloudWatchPublishesAlarms"]
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:${AWS::StackName}-*")


def test_every_alarm_watches_a_metric_that_is_emitted_with_its_dimensions() -> None:
    for name, alarm in _alarms().items():
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        if alarm["Namespace"] == "Sealpost":
            assert alarm["MetricName"] in CONTRACT_METRICS and dimensions == {"service": STACK_NAME}, name
        else:
            metrics, names = AWS_METRICS[alarm["Namespace"]]
            assert alarm["MetricName"] in metrics and set(dimensions) <= names, name
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (
        variables["POWERTOOLS_SERVICE_NAME"] == STACK_NAME and variables["POWERTOOLS_METRICS_NAMESPACE"] == "Sealpost"
    )


def test_the_alarms_cover_errors_throttles_dead_letters_digests_tampering_break_glass_and_lockouts() -> None:
    watched = {
        (a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"], sort_keys=True)): a for a in _alarms().values()
    }

    def alarm(namespace: str, metric: str, dimensions: list[dict[str, Any]]) -> dict[str, Any]:
        return watched[(namespace, metric, json.dumps(dimensions, sort_keys=True))]

    api = alarm(
        "AWS/ApiGateway", "5XXError", [{"Name": "ApiName", "Value": STACK_NAME}, {"Name": "Stage", "Value": "api"}]
    )
    assert api["Threshold"] == {"Ref": "ApiErrorAlarmThreshold"} and api["Period"] == 300
    # The API's name is the stack's (RestAPI Name and the body's title), so the dimension is this stack's.
    assert RESOURCES["RestAPI"]["Properties"]["Name"] == STACK_NAME
    assert RESOURCES["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"] == STACK_NAME
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            found = alarm("AWS/Lambda", metric, [{"Name": "FunctionName", "Value": {"Ref": function}}])
            assert found["Threshold"] == 1 and found["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for dead_letters, *_ in MAIL_QUEUES.values():
        queue_name = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters, "QueueName"]}}]
        depth = alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue_name)
        assert (depth["Statistic"], depth["Threshold"], depth["ComparisonOperator"]) == (
            "Maximum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
    service = [{"Name": "service", "Value": STACK_NAME}]
    for metric in ("TamperDetected", "BreakGlassSignIn", "DigestRunFailed"):
        any_one = alarm("Sealpost", metric, service)
        assert any_one["Threshold"] == 1 and any_one["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert any_one["TreatMissingData"] == "notBreaching"
    lockouts = alarm("Sealpost", "AccountLocked", service)
    assert lockouts["Threshold"] == {"Ref": "LockoutAlarmThreshold"} and lockouts["Period"] == 300
    assert alarm("Sealpost", "DeliveryBounced", service)["Threshold"] == {"Ref": "BounceAlarmThreshold"}
    digest = alarm("Sealpost", "DigestWritten", service)
    assert (digest["Statistic"], digest["ComparisonOperator"], digest["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert digest["TreatMissingData"] == "breaching" and digest["EvaluationPeriods"] == digest["DatapointsToAlarm"] == 2


def test_the_digest_missing_alarm_waits_at_least_one_digest_period_for_every_allowed_length() -> None:
    digest = next(a for a in _alarms().values() if a["MetricName"] == "DigestWritten")
    assert digest["Period"] == {"Fn::FindInMap": ["DigestAlarmPeriod", {"Ref": "AuditDigestMinutes"}, "Seconds"]}
    periods = TEMPLATE["Mappings"]["DigestAlarmPeriod"]
    assert sorted(int(minutes) for minutes in periods) == sorted(PERIOD_MINUTES)
    for minutes, seconds in ((int(m), v["Seconds"]) for m, v in periods.items()):
        # The writer runs hourly; CloudWatch evaluates at most seven days.
        assert seconds >= max(3600, minutes * 60) and seconds % 60 == 0 and 2 * seconds <= 604800, minutes


def test_the_alarm_topic_is_encrypted_and_mails_only_when_an_address_is_given() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "DataKey"}
    (mail,) = [name for name, p in of_type("AWS::SNS::Subscription").items() if p["Protocol"] == "email"]
    assert RESOURCES[mail]["Condition"] == "HasAlarmEmail"
    assert RESOURCES[mail]["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""


def _dashboard_body() -> tuple[dict[str, Any], set[str]]:
    """The dashboard's JSON with every ${...} of its Fn::Sub replaced by a sample, and those names."""
    import re

    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    text = dashboard["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}!]+)\}", text))
    return json.loads(re.sub(r"\$\{[^}!]+\}", "sample", text)), names


def test_the_dashboard_body_is_json_and_names_only_metrics_that_are_emitted() -> None:
    body, substituted = _dashboard_body()
    # Each ${...} is a pseudo parameter or a resource (attribute) of the template.
    assert {n.split(".")[0] for n in substituted if not n.startswith("AWS::")} <= set(RESOURCES)
    shown: set[tuple[str, str]] = set()
    for widget in body["widgets"]:
        for metric in widget["properties"]["metrics"]:
            namespace, name, *rest = metric
            dimensions = [d for d in rest if isinstance(d, str)][::2]
            shown.add((namespace, name))
            if namespace == "Sealpost":
                assert name in CONTRACT_METRICS and dimensions == ["service"], metric
            else:
                names, allowed = AWS_METRICS[namespace]
                assert name in names and set(dimensions) <= allowed, metric
    assert {("Sealpost", m) for m in CONTRACT_METRICS} <= shown
    assert {("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/WAFV2", "BlockedRequests")} <= shown
    assert {("AWS/ApiGateway", m) for m in ("4XXError", "5XXError", "Latency")} <= shown
    assert ("AWS/Lambda", "Errors") in shown


def _web_acl_rules() -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in RESOURCES["WebAcl"]["Properties"]["Rules"]}


def _scope(rule: dict[str, Any]) -> tuple[str | None, str]:
    """A rate rule's scope: the method it counts (None: every method) and its path pattern."""
    scope = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    statements = scope["AndStatement"]["Statements"] if "AndStatement" in scope else [scope]
    method = [s["ByteMatchStatement"]["SearchString"] for s in statements if "ByteMatchStatement" in s]
    (pattern,) = [s["RegexMatchStatement"] for s in statements if "RegexMatchStatement" in s]
    assert pattern["FieldToMatch"] == {"UriPath": {}}
    return (method[0] if method else None), pattern["RegexString"]


def _route_paths(method: str, *templates: str) -> list[str]:
    """The app's routes for ``method`` that are or start with ``templates`` (a template ending in
    ``*``), with a sample in each {parameter}; each template must name at least one route."""
    import re

    from app import app

    paths = []
    for template in templates:
        found = [
            path
            for path, entries in app.routes.items()
            if method in entries and (path == template or (template.endswith("*") and path.startswith(template[:-1])))
        ]
        assert found, (method, template)
        paths += [re.sub(r"\{[^}]+\}", "Zx9-sample_token", path) for path in found]
    return paths


def test_the_web_acl_rate_limits_sign_in_pickup_and_reset_per_source_ip_on_the_apps_own_paths() -> None:
    import re

    rules = _web_acl_rules()
    acl = RESOURCES["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    sign_ins = ("/signin", "/api/session", "/api/register", "/register/{token}", "/p/{token}/signin")
    link_sign_ins = ("/api/pickup/{token}/signin", "/api/pickup/{token}/register")
    resets = ("/forgot", "/reset/{token}", "/api/password/forgot", "/api/password/reset")
    targets = {
        "SignInPerIp": ("POST", _route_paths("POST", *sign_ins, *link_sign_ins)),
        "ResetPerIp": ("POST", _route_paths("POST", *resets)),
        "PickupPerIp": (None, _route_paths("GET", "/p/*") + _route_paths("POST", "/p/*", "/api/pickup/*")),
    }
    others = [("GET", p) for p in _route_paths("GET", "/threads/*", "/static/*", "/account", "/signin", "/forgot")]
    posts = ("/threads", "/api/threads", "/api/session/revoke-all", "/signout", "/api/password")
    others += [("POST", p) for p in _route_paths("POST", *posts)]
    assert others and "/api/session" in targets["SignInPerIp"][1] and "/api/password/reset" in targets["ResetPerIp"][1]
    for name, (method, paths) in targets.items():
        rule = rules[name]
        assert rule["Action"] == {"Block": {}} and rule["VisibilityConfig"]["SampledRequestsEnabled"] is True
        rate = rule["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP" and rate["EvaluationWindowSec"] == 300
        assert TEMPLATE["Parameters"][rate["Limit"]["Ref"]]["Type"] == "Number"
        counted, pattern = _scope(rule)
        assert counted == method and paths, name
        for path in paths:  # on the custom domain, and on the execute-api address (stage `api`)
            assert re.search(pattern, path) and re.search(pattern, "/api" + path), (name, path)
        counted_too = [(m, p) for m, p in others if m == (method or m) and re.search(pattern, p)]
        assert not counted_too, (name, counted_too)
    everything = rules["RequestsPerIp"]["Statement"]["RateBasedStatement"]
    assert everything["AggregateKeyType"] == "IP" and "ScopeDownStatement" not in everything
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert len({r["Priority"] for r in rules.values()}) == len(rules)
    for rule in rules.values():
        assert (
            rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
            and rule["VisibilityConfig"]["MetricName"] == rule["Name"]
        )
        assert rule.get("OverrideAction", {"None": {}}) == {"None": {}}  # managed groups block, never only count


def test_the_web_acl_guards_the_api_stage_and_logs_blocks_without_tokens_or_cookies(merged_package: Any) -> None:
    association = RESOURCES["WebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert association["ResourceArn"]["Fn::Sub"].endswith("::/restapis/${RestAPI}/stages/${RestAPI.Stage}")
    translated = json.loads(merged_package.translated.read_text())["Resources"]
    (stage,) = [n for n, r in translated.items() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert translated["WebAclAssociation"]["Properties"]["ResourceArn"]["Fn::Sub"].endswith(f"/stages/${{{stage}}}")
    logging = RESOURCES["WafLogging"]["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    (destination,) = logging["LogDestinationConfigs"]
    assert destination["Fn::Sub"].endswith(":log-group:${WafLogs}")
    group = RESOURCES["WafLogs"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "aws-waf-logs-${AWS::StackName}"}  # WAF's required prefix
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]} and group["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }
    # The URI carries the pickup, registration and reset tokens.
    assert logging["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "cookie"}},
        {"QueryString": {}},
        {"UriPath": {}},
    ]


def test_the_api_stage_is_throttled_and_logs_json_lines_without_paths_or_query_strings(merged_package: Any) -> None:
    translated = json.loads(merged_package.translated.read_text())["Resources"]
    (stage,) = [r["Properties"] for r in translated.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    (setting,) = stage["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    assert setting.get("LoggingLevel", "OFF") == "OFF" and not setting.get(
        "DataTraceEnabled"
    )  # execution logs log path parameters
    log = stage["AccessLogSetting"]
    assert log["DestinationArn"]["Fn::Sub"].endswith(":log-group:${ApiAccessLogs}")
    line = json.loads(log["Format"])
    assert {"requestId", "ip", "method", "status", "latency", "userAgent", "wafResponseCode", "resourcePath"} <= set(
        line
    )
    assert line["resourcePath"] == "$context.resourcePath"
    lowered = log["Format"].lower()
    for leak in ("$context.path", "querystring", "requestoverride", "$input", "$context.authorizer"):
        assert leak not in lowered, leak
    group = RESOURCES["ApiAccessLogs"]
    assert group["DeletionPolicy"] == "Retain" and group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    arns = _key_statements("DataKey")["LogsEncryptTheFunctionsLogGroups"]["Condition"]["ArnLike"]
    groups = [a["Fn::Sub"].split(":log-group:")[1] for a in arns["kms:EncryptionContext:aws:logs:arn"]]
    assert groups == [
        "/aws/lambda/${AWS::StackName}/*",
        "/aws/apigateway/${AWS::StackName}/*",
        "aws-waf-logs-${AWS::StackName}",
    ]


def test_the_account_logging_role_is_the_stacks_only_when_asked_and_the_stage_waits_for_it() -> None:
    assert TEMPLATE["Parameters"]["ManageApiGatewayAccount"]["Default"] == "true"
    assert TEMPLATE["Conditions"]["ManagesApiGatewayAccount"] == {
        "Fn::Equals": [{"Ref": "ManageApiGatewayAccount"}, "true"]
    }
    for name in ("ApiGatewayAccount", "ApiGatewayLogsRole"):
        assert RESOURCES[name]["Condition"] == "ManagesApiGatewayAccount", name
    assert RESOURCES["ApiGatewayAccount"]["Properties"] == {
        "CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]}
    }
    trust = RESOURCES["ApiGatewayLogsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "apigateway.amazonaws.com"}]
    # The stage logs into ApiAccessLogs; the log group refers to the account setting when there is one.
    (tag,) = RESOURCES["ApiAccessLogs"]["Properties"]["Tags"]
    assert tag["Value"]["Fn::If"][:2] == ["ManagesApiGatewayAccount", {"Ref": "ApiGatewayAccount"}]


def test_every_function_logs_json_lines_to_its_own_log_group(merged_package: Any) -> None:
    translated = json.loads(merged_package.translated.read_text())["Resources"]
    for name in FUNCTIONS:
        config = translated[name]["Properties"]["LoggingConfig"]
        assert config == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "WARN",
            "LogGroup": {"Ref": f"{name}Logs"},
        }, name
        variables = translated[name]["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == STACK_NAME, name
