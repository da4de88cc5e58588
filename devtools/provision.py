"""Create the resources of ``infra/template.yaml`` on a local AWS stand-in (moto, dynalite).

The template is the one source of truth: this reads it, resolves its intrinsic
functions and makes the same resources with the same properties through boto3, and
returns the environment variables the functions would get in a deployment
(``Globals.Function.Environment.Variables``). moto's own CloudFormation drops most
properties, hence this small interpreter. A resource type it does not know fails
loudly, so a new resource cannot silently go missing locally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"

# Types that are not created locally, and why. Their content is checked by the template
# tests (tests/test_infra.py) and by cfn-lint instead.
NOT_LOCAL = {
    "AWS::ApiGateway::GatewayResponse": "API Gateway is played by `chalice local`",
    "AWS::IAM::Role": "moto does not enforce IAM",
    # moto ignores policy conditions, so a conditional Deny (non-TLS, unencrypted put)
    # would deny every request.
    "AWS::S3::BucketPolicy": "moto would apply conditional Deny statements unconditionally",
    # moto has no S3 Object Lambda; locally the app serves attachment downloads itself.
    "AWS::S3::AccessPoint": "only needed by the S3 Object Lambda download path",
    "AWS::S3ObjectLambda::AccessPoint": "moto has no S3 Object Lambda; local mode downloads inline",
    "AWS::SNS::TopicPolicy": "moto does not enforce who may publish",
    # The functions are Chalice's; these entries only add settings and subscriptions.
    "AWS::Serverless::Function": "created by `chalice local` / the deployment, not by the stand-in",
}

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.safe_load(handle)
    return template


@dataclass
class Provisioned:
    stack_name: str
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        stack: Provisioned,
        region: str,
        account: str,
        parameters: Mapping[str, str],
        strict: bool = True,
    ) -> None:
        self._template = template
        # Not strict when only some resources are made (dynalite): refs to the others
        # resolve to a placeholder that the creators there never use.
        self._strict = strict
        self._stack = stack
        self._pseudo = {
            "AWS::StackName": stack.stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._parameters = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }

    def ref(self, name: str) -> str:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._stack.physical:
            return self._stack.physical[name]
        if not self._strict:
            return f"<not created: {name}>"
        raise KeyError(f"Ref to {name}, which is not created (yet)")

    def get_att(self, name: str, attribute: str) -> str:
        found = self._stack.attributes.get((name, attribute))
        if found is not None:
            return found
        if not self._strict:
            return f"<not created: {name}.{attribute}>"
        raise KeyError(f"GetAtt {name}.{attribute} is not known locally")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                # ``${!name}`` is a literal ``${name}`` (e.g. in an Athena location template).
                return _SUB.sub(lambda m: self._sub_one(m.group(1), variables), text).replace("${!", "${")
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key.startswith("Fn::"):
                raise ValueError(f"{key} is not supported by the local provisioner")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub_one(self, name: str, variables: Mapping[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name and not name.startswith("AWS::"):
            resource, attribute = name.split(".", 1)
            return self.get_att(resource, attribute)
        return self.ref(name)


def _dependencies(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _dependencies(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in _SUB.findall(text)}
                if not isinstance(arg, str):
                    found |= _dependencies(arg[1])
            else:
                found |= _dependencies(arg)
    return found


def creation_order(resources: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"circular reference at {name}")
        visiting.add(name)
        for dep in sorted(_dependencies(resources[name].get("Properties", {}))):
            if dep in resources:
                visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in resources:
        visit(name)
    return order


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
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": r["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                    "KMSMasterKeyID": r["ServerSideEncryptionByDefault"].get("KMSMasterKeyID"),
                },
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
    p.record(name, bucket, Arn=f"arn:aws:s3:::{bucket}", DomainName=f"{bucket}.s3.amazonaws.com")


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


CREATORS: dict[str, Creator] = {
    "AWS::SNS::Topic": _sns_topic,
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
}
