"""Create the resources of ``infra/template.yaml`` on a local AWS stand-in (moto, dynalite).

The template is the one source of truth: this reads it, resolves its intrinsic
functions and makes the same resources with the same properties through boto3, and
returns the environment variables the functions would get in a deployment
(``Globals.Function.Environment.Variables``). moto's own CloudFormation drops most
properties, hence this small interpreter (the intrinsics and Conditions are resolved by
devtools/intrinsics.py). A resource type it does not know fails loudly, so a new resource
cannot silently go missing locally.

moto does not enforce what the template's policies say: IAM roles are not created, key
policies are stored but not evaluated (moto only honours an explicit Deny of DescribeKey,
and makes no lockout safety check), bucket and topic policies are not applied. The template
tests (tests/test_infra.py, tests/test_roles.py) and cfn-lint check those instead.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3

from devtools.intrinsics import ROOT, TEMPLATE, Provisioned, Resolver, creation_order, load_template

__all__ = ["CREATORS", "NOT_LOCAL", "ROOT", "TEMPLATE", "Provisioned", "Provisioner", "Resolver", "load_template"]

# Types that are not created locally, and why. Their content is checked by the template
# tests (tests/test_infra.py) and by cfn-lint instead.
NOT_LOCAL = {
    "AWS::Serverless::Api": "API Gateway is played by `chalice local` (these entries add to Chalice's API)",
    # Roles are not made, but references to their ARNs (key policies, bucket replication)
    # resolve to the ARN the role would have.
    "AWS::IAM::Role": "moto does not enforce IAM",
    "AWS::Backup::BackupSelection": "moto's AWS Backup has no backup selections (the template tests check them)",
    # moto ignores policy conditions, so a conditional Deny (non-TLS, unencrypted put)
    # would deny every request.
    "AWS::S3::BucketPolicy": "moto would apply conditional Deny statements unconditionally",
    "AWS::SNS::TopicPolicy": "moto does not enforce who may publish",
    # The functions are Chalice's (these entries add settings) and the streaming download
    # function; `make run` serves all of them itself (devtools/local_server.py).
    "AWS::Serverless::Function": "served by `make run`'s local server, not by the stand-in",
    "AWS::Lambda::Url": "the local server gives the download function a local address",
    "AWS::Lambda::Permission": "the local server takes every request",
    "AWS::Logs::LogGroup": "`make run` logs to its terminal",
    # The mail functions' queues are made (the redrive works on them); what feeds and watches
    # them is not: `make run` hands mail to the functions itself.
    "AWS::SQS::QueuePolicy": "moto does not enforce who may send",
    "AWS::SNS::Subscription": "the local server hands SES's notifications to the functions itself",
    "AWS::CloudWatch::Alarm": "no alarms locally (the template tests check them against the metrics)",
    "AWS::CloudWatch::Dashboard": "no dashboard locally (the template tests check its metrics)",
    "AWS::WAFv2::WebACL": "the local server has no edge; the template tests check the rules",
    "AWS::WAFv2::WebACLAssociation": "the local server has no API Gateway stage",
    "AWS::WAFv2::LoggingConfiguration": "no web ACL locally",
    "AWS::ApiGateway::Account": "account-wide API Gateway logging role; no API Gateway locally",
}

# --- one creator per resource type -------------------------------------------------------

Creator = Callable[["Provisioner", str, dict[str, Any]], None]


class Provisioner:
    def __init__(
        self,
        region: str = "us-east-1",
        client_factory: Callable[[str], Any] | None = None,
        dynamodb_compat: bool = False,
    ) -> None:
        self.region = region
        self._client_factory = client_factory or (lambda service: boto3.client(service, region_name=region))  # type: ignore[call-overload]
        self._clients: dict[str, Any] = {}
        # dynalite implements the core DynamoDB API only: no SSE, PITR, TTL, transactions.
        self.dynamodb_compat = dynamodb_compat
        self.stack: Provisioned | None = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    def provision(
        self,
        stack_name: str,
        *,
        template: Mapping[str, Any] | None = None,
        parameters: Mapping[str, str] | None = None,
        only: Iterable[str] | None = None,
        account: str = "123456789012",
    ) -> Provisioned:
        template = template or load_template()
        stack = Provisioned(stack_name=stack_name)
        self.stack = stack
        wanted = set(only) if only is not None else None
        resolver = Resolver(template, stack, self.region, account, parameters or {}, strict=wanted is None)
        resources: Mapping[str, Any] = template["Resources"]
        for name in creation_order(resources):
            spec = resources[name]
            kind = spec["Type"]
            if "Condition" in spec and not resolver.condition(spec["Condition"]):
                continue
            if kind == "AWS::IAM::Role":
                # Not created (NOT_LOCAL), but the key policies and replication name its ARN.
                self.record(name, f"{stack_name}-{name}", Arn=f"arn:aws:iam::{account}:role/{stack_name}-{name}")
            if kind in NOT_LOCAL or (wanted is not None and name not in wanted):
                continue
            creator = CREATORS.get(kind)
            if creator is None:
                raise NotImplementedError(f"{name}: {kind} has no local equivalent in devtools/provision.py")
            creator(self, name, resolver.resolve(spec.get("Properties", {})))
        if wanted is None:
            variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
            stack.environment = {key: str(resolver.resolve(value)) for key, value in variables.items()}
        return stack

    def record(self, name: str, physical: str, **attributes: str) -> None:
        assert self.stack is not None
        self.stack.physical[name] = physical
        for attribute, value in attributes.items():
            self.stack.attributes[(name, attribute)] = value


def _kms_key(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    kms = p.client("kms")
    key = kms.create_key(
        Description=props.get("Description", name),
        KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
        KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
        Policy=json.dumps(props["KeyPolicy"]),
    )["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    p.record(name, key["KeyId"], Arn=key["Arn"], KeyId=key["KeyId"])


def _kms_alias(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    p.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    p.record(name, props["AliasName"])


def _dynamodb_table(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    ddb = p.client("dynamodb")
    table_name = props["TableName"]
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    request["BillingMode"] = props.get("BillingMode", "PAY_PER_REQUEST")
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if not p.dynamodb_compat:
        sse = props.get("SSESpecification")
        if sse:
            request["SSESpecification"] = {
                "Enabled": sse.get("SSEEnabled", False),
                "SSEType": sse.get("SSEType", "KMS"),
                "KMSMasterKeyId": sse.get("KMSMasterKeyId"),
            }
        if "DeletionProtectionEnabled" in props:
            request["DeletionProtectionEnabled"] = props["DeletionProtectionEnabled"]
    description = ddb.create_table(**request)["TableDescription"]
    ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    if not p.dynamodb_compat:
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr:
            ddb.update_continuous_backups(TableName=table_name, PointInTimeRecoverySpecification=pitr)
    p.record(name, table_name, Arn=description["TableArn"])


def _s3_bucket(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    s3 = p.client("s3")
    bucket = props["BucketName"]
    create: dict[str, Any] = {"Bucket": bucket}
    if p.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": p.region}
    if props.get("ObjectLockEnabled"):
        create["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**create)
    # moto accepts an Object Lock configuration only while the bucket is empty: first.
    lock = props.get("ObjectLockConfiguration")
    if lock:
        rule = lock.get("Rule", {}).get("DefaultRetention", {})
        retention = {"Mode": rule["Mode"], "Days": int(rule["Days"])} if rule else None
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                **({"Rule": {"DefaultRetention": retention}} if retention else {}),
            },
        )
    versioning = props.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning["Status"]})
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = [
            {
                # KMSMasterKeyID only with aws:kms (the access-log bucket uses S3's own keys).
                "ApplyServerSideEncryptionByDefault": dict(r["ServerSideEncryptionByDefault"]),
                "BucketKeyEnabled": r.get("BucketKeyEnabled", False),
            }
            for r in encryption["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    public = props.get("PublicAccessBlockConfiguration")
    if public:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=public)
    ownership = props.get("OwnershipControls")
    if ownership:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership)
    cors = props.get("CorsConfiguration")
    if cors:
        rules = [
            {("MaxAgeSeconds" if key == "MaxAge" else key): value for key, value in rule.items()}
            for rule in cors["CorsRules"]
        ]
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=_lifecycle(lifecycle))
    replication = props.get("ReplicationConfiguration")
    if replication:
        s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration=_replication(replication))
    p.record(name, bucket, Arn=f"arn:aws:s3:::{bucket}", DomainName=f"{bucket}.s3.amazonaws.com")


def _replication(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ReplicationConfiguration in the S3 API's shape (``Id`` is ``ID`` there)."""
    rules = [{("ID" if key == "Id" else key): value for key, value in rule.items()} for rule in config["Rules"]]
    for rule in rules:
        if "Priority" in rule:
            rule["Priority"] = int(rule["Priority"])
    return {"Role": config["Role"], "Rules": rules}


def _lifecycle(config: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in config["Rules"]:
        converted: dict[str, Any] = {
            "ID": rule.get("Id", "rule"),
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            converted["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            converted["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        rules.append(converted)
    return {"Rules": rules}


def _ses_identity(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    p.client("sesv2").create_email_identity(EmailIdentity=props["EmailIdentity"])
    p.record(name, props["EmailIdentity"])


def _glue_database(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    p.client("glue").create_database(CatalogId=props["CatalogId"], DatabaseInput=props["DatabaseInput"])
    p.record(name, props["DatabaseInput"]["Name"])


def _glue_table(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    table = props["TableInput"]
    p.client("glue").create_table(CatalogId=props["CatalogId"], DatabaseName=props["DatabaseName"], TableInput=table)
    p.record(name, table["Name"])


def _sns_topic(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    arn = p.client("sns").create_topic(Name=props["TopicName"])["TopicArn"]
    p.record(name, arn, TopicName=props["TopicName"], TopicArn=arn)


def _sqs_queue(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    kept = ("VisibilityTimeout", "MessageRetentionPeriod")
    attributes: dict[str, str] = {key: str(props[key]) for key in kept if key in props}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = json.dumps(props[key])
    sqs = p.client("sqs")
    url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    p.record(name, url, Arn=arn, QueueName=props["QueueName"], QueueUrl=url)


def _ses_configuration_set(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    request: dict[str, Any] = {"ConfigurationSetName": props["Name"]}
    if "DeliveryOptions" in props:
        request["DeliveryOptions"] = props["DeliveryOptions"]
    p.client("sesv2").create_configuration_set(**request)
    p.record(name, props["Name"])


def _ses_event_destination(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    # moto implements this in the SES v1 API only.
    destination = props["EventDestination"]
    p.client("ses").create_configuration_set_event_destination(
        ConfigurationSetName=props["ConfigurationSetName"],
        EventDestination={
            "Name": destination["Name"],
            "Enabled": destination.get("Enabled", True),
            "MatchingEventTypes": destination["MatchingEventTypes"],
            "SNSDestination": {"TopicARN": destination["SnsDestination"]["TopicARN"]},
        },
    )
    p.record(name, destination["Name"])


def _ses_receipt_rule_set(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    p.client("ses").create_receipt_rule_set(RuleSetName=props["RuleSetName"])
    p.record(name, props["RuleSetName"])


def _ses_receipt_rule(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    p.client("ses").create_receipt_rule(RuleSetName=props["RuleSetName"], Rule=props["Rule"])
    p.record(name, props["Rule"]["Name"])


def _backup_vault(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    backup = p.client("backup")
    vault = props["BackupVaultName"]
    request: dict[str, Any] = {"BackupVaultName": vault}
    if props.get("EncryptionKeyArn"):
        request["EncryptionKeyArn"] = props["EncryptionKeyArn"]
    arn = backup.create_backup_vault(**request)["BackupVaultArn"]
    lock = props.get("LockConfiguration")
    if lock:
        backup.put_backup_vault_lock_configuration(
            BackupVaultName=vault,
            **{key: int(value) for key, value in lock.items() if key in ("MinRetentionDays", "MaxRetentionDays")},
        )
    p.record(name, vault, BackupVaultName=vault, BackupVaultArn=arn)


_BACKUP_RULE_KEYS = {"TargetBackupVault": "TargetBackupVaultName"}


def _backup_plan(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    """CloudFormation's BackupPlan in the AWS Backup API's shape (BackupPlanRule, TargetBackupVault)."""
    plan = props["BackupPlan"]
    rules = []
    for rule in plan["BackupPlanRule"]:
        converted = {_BACKUP_RULE_KEYS.get(key, key): value for key, value in rule.items()}
        for minutes in ("StartWindowMinutes", "CompletionWindowMinutes"):
            if minutes in converted:
                converted[minutes] = int(converted[minutes])
        for lifecycle in [converted.get("Lifecycle")] + [c.get("Lifecycle") for c in converted.get("CopyActions", [])]:
            if lifecycle:
                lifecycle.update({key: int(value) for key, value in lifecycle.items()})
        rules.append(converted)
    made = p.client("backup").create_backup_plan(BackupPlan={"BackupPlanName": plan["BackupPlanName"], "Rules": rules})
    p.record(name, made["BackupPlanId"], BackupPlanId=made["BackupPlanId"], BackupPlanArn=made["BackupPlanArn"])


def _secret(p: Provisioner, name: str, props: dict[str, Any]) -> None:
    """A Secrets Manager secret (moto's CloudFormation lacks it): a generated placeholder like the
    template's ``GenerateSecretString``. Ref gives its ARN, as in CloudFormation."""
    request: dict[str, Any] = {"Name": props["Name"], "Description": props.get("Description", name)}
    if props.get("KmsKeyId"):
        request["KmsKeyId"] = props["KmsKeyId"]
    generate = props.get("GenerateSecretString")
    if generate:
        value = secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))
        template = json.loads(generate.get("SecretStringTemplate", "{}"))
        request["SecretString"] = (
            json.dumps({**template, generate["GenerateStringKey"]: value}) if "GenerateStringKey" in generate else value
        )
    elif "SecretString" in props:
        request["SecretString"] = props["SecretString"]
    arn = p.client("secretsmanager").create_secret(**request)["ARN"]
    p.record(name, arn, Id=arn)


CREATORS: dict[str, Creator] = {
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SES::ConfigurationSet": _ses_configuration_set,
    "AWS::SES::ConfigurationSetEventDestination": _ses_event_destination,
    "AWS::SES::ReceiptRuleSet": _ses_receipt_rule_set,
    "AWS::SES::ReceiptRule": _ses_receipt_rule,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::SES::EmailIdentity": _ses_identity,
    "AWS::Glue::Database": _glue_database,
    "AWS::Glue::Table": _glue_table,
    "AWS::Backup::BackupVault": _backup_vault,
    "AWS::Backup::BackupPlan": _backup_plan,
}
