"""The role matrix: what each function may do, compared with the deployable template itself.

The template is built as `make package` builds it (the ``merged_package`` fixture: Chalice's SAM
template merged with infra/template.yaml), so nothing Chalice adds goes unseen. A function's
permissions are its role's IAM statements plus every key-policy statement that names its role
(KMS permissions live in the key policies only). Each grant is one (action, resource, condition)
triple, with the template's intrinsics resolved symbolically: the stack is ``STACK``, the account
``ACCOUNT``, the Region ``REGION``, a key is ``key:<logical id>``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from devtools.intrinsics import Provisioned, Resolver
from tests.packaging import FUNCTION_ROLES

OTHER_ROLES = {"BackupRole", "ReplicationRole", "ApiGatewayLogsRole"}
SAMPLE_PARAMETERS = {
    "MailDomain": "plan.example",
    "InternalDomains": "plan.example,corp.plan.example",
    "KeyAdministratorRoleArn": "arn:aws:iam::ACCOUNT:role/key-administrator",
}

Condition = frozenset[tuple[str, str, tuple[str, ...]]]
Grant = tuple[str, str, Condition]


# --- the matrix ---------------------------------------------------------------------------------


def table(name: str) -> str:
    return f"arn:aws:dynamodb:REGION:ACCOUNT:table/STACK-{name}"


def bucket(name: str, path: str = "") -> str:
    return f"arn:aws:s3:::STACK-{name}-ACCOUNT-REGION{path}"


def logs(function: str) -> list[str]:
    group = f"arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/STACK/{function}"
    return [group, group + ":*"]


def via_s3(*buckets: str) -> dict[str, Any]:
    return {
        "StringEquals": {
            "kms:ViaService": "s3.REGION.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": [bucket(b) for b in buckets],
        }
    }


def via_dynamodb(*tables: str) -> dict[str, Any]:
    return {
        "StringEquals": {
            "kms:ViaService": "dynamodb.REGION.amazonaws.com",
            "kms:EncryptionContext:aws:dynamodb:tableName": [f"STACK-{t}" for t in tables],
        }
    }


def queue(name: str) -> str:
    return f"arn:aws:sqs:REGION:ACCOUNT:STACK-{name}"


def via_sqs(name: str) -> dict[str, Any]:
    """SQS decrypts a queue's messages for the caller (encryption context: the queue's ARN)."""
    return {
        "StringEquals": {"kms:ViaService": "sqs.REGION.amazonaws.com", "kms:EncryptionContext:aws:sqs:arn": queue(name)}
    }


def secret(name: str) -> str:
    """A Secrets Manager secret of the stack (Secrets Manager adds 6 characters of its own to the name)."""
    return f"arn:aws:secretsmanager:REGION:ACCOUNT:secret:STACK/{name}-??????"


def via_secretsmanager(*names: str) -> dict[str, Any]:
    """Secrets Manager decrypts a secret for the caller (encryption context SecretARN: the secret's ARN)."""
    return {
        "StringEquals": {"kms:ViaService": "secretsmanager.REGION.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:SecretARN": [secret(n) for n in names]},
    }


# Lambda's event source mapping polls a function's queue as the function's role.
RECEIVE = "sqs:ReceiveMessage sqs:DeleteMessage sqs:GetQueueAttributes"


def content(*purposes: str) -> dict[str, Any]:
    """The Encryption SDK's direct calls: chalicelib/messaging/encryption.py ``Encryptor.context``."""
    return {"StringEquals": {"kms:EncryptionContext:deployment": "STACK", "kms:EncryptionContext:purpose": purposes}}


# The log groups are the template's own (retention, encryption): the functions only write to them.
LOGS = "logs:CreateLogStream logs:PutLogEvents"
DATA_KEY, SIGNING_KEY = "key:DataKey", "key:AuditSigningKey"
IDENTITY = "arn:aws:ses:REGION:ACCOUNT:identity/plan.example"
TLS_SET = "arn:aws:ses:REGION:ACCOUNT:configuration-set/STACK-tls-required"
FROM_NO_REPLY = {"StringEquals": {"ses:FromAddress": "no-reply@plan.example"}}
ALL_PURPOSES = ("subject", "content", "attachment")

# function -> (actions, resources, condition) rows; every action on every resource of its row.
MATRIX: dict[str, list[tuple[Any, ...]]] = {
    "APIHandler": [
        (LOGS, logs("APIHandler")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem", table("accounts")),
        ("dynamodb:Query", table("accounts/index/*")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem dynamodb:DeleteItem", table("sessions")),
        ("dynamodb:Query", table("sessions/index/*")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem", table("tokens")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem dynamodb:Query", table("threads")),
        ("dynamodb:GetItem dynamodb:Scan", table("gateway")),
        ("s3:PutObject s3:GetObject s3:AbortMultipartUpload", bucket("messages", "/threads/*")),
        ("s3:PutObject s3:GetObject s3:DeleteObjectVersion", bucket("staging", "/uploads/*")),
        ("s3:ListBucket s3:ListBucketVersions", bucket("staging"), {"StringLike": {"s3:prefix": "uploads/*"}}),
        ("s3:PutObject", bucket("audit", "/records/*")),
        ("ses:SendEmail", [IDENTITY, TLS_SET], FROM_NO_REPLY),
        ("sqs:SendMessage", queue("account-mail")),  # forgot password: send only, never receive
        # The OpenID providers' client secrets (chalicelib/identity/client_secrets.py): read only.
        ("secretsmanager:GetSecretValue", [secret("associate-idp-client-secret"), secret("partner-idp-client-secret")]),
        ("kms:Decrypt", DATA_KEY, via_secretsmanager("associate-idp-client-secret", "partner-idp-client-secret")),
        ("kms:GenerateDataKey kms:Decrypt", DATA_KEY, via_sqs("account-mail")),
        ("kms:GenerateDataKey kms:Decrypt", DATA_KEY, content(*ALL_PURPOSES)),
        ("kms:GenerateDataKey kms:Decrypt", DATA_KEY, content("mfa-totp")),  # chalicelib/mfa/sealed.py
        ("kms:GenerateDataKey", DATA_KEY, via_s3("audit", "messages", "staging")),
        ("kms:Decrypt", DATA_KEY, via_s3("messages", "staging")),
        ("kms:Decrypt", DATA_KEY, via_dynamodb("accounts", "sessions", "tokens", "threads", "gateway")),
    ],
    "RouteInboundMail": [
        (LOGS, logs("RouteInboundMail")),
        (RECEIVE, queue("inbound-mail")),
        ("kms:Decrypt", DATA_KEY, via_sqs("inbound-mail")),
        ("s3:GetObject", bucket("inbound", "/inbound/*")),
        ("dynamodb:GetItem dynamodb:PutItem", table("accounts")),
        ("dynamodb:PutItem", table("tokens")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem dynamodb:Query", table("threads")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:DeleteItem", table("gateway")),
        ("s3:PutObject s3:AbortMultipartUpload", bucket("messages", "/threads/*")),
        ("s3:PutObject", bucket("audit", "/records/*")),
        ("ses:SendEmail", IDENTITY, FROM_NO_REPLY),
        (
            "ses:SendEmail",
            ["arn:aws:ses:REGION:ACCOUNT:identity/*", TLS_SET],
            {"StringLike": {"ses:FromAddress": ["*@plan.example", "*@corp.plan.example"]}},
        ),
        ("kms:GenerateDataKey", DATA_KEY, content(*ALL_PURPOSES)),
        ("kms:GenerateDataKey", DATA_KEY, via_s3("audit", "messages")),
        ("kms:Decrypt", DATA_KEY, via_s3("inbound", "messages")),
        ("kms:Decrypt", DATA_KEY, via_dynamodb("accounts", "tokens", "threads", "gateway")),
    ],
    "HandleDeliveryEvents": [
        (LOGS, logs("HandleDeliveryEvents")),
        (RECEIVE, queue("delivery-events")),
        ("kms:Decrypt", DATA_KEY, via_sqs("delivery-events")),
        ("dynamodb:GetItem", table("accounts")),
        ("dynamodb:PutItem", table("tokens")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:Query", table("threads")),
        ("dynamodb:GetItem dynamodb:PutItem", table("gateway")),
        ("s3:PutObject", bucket("audit", "/records/*")),
        ("ses:SendEmail", IDENTITY, FROM_NO_REPLY),
        ("kms:GenerateDataKey", DATA_KEY, via_s3("audit")),
        ("kms:Decrypt", DATA_KEY, via_dynamodb("accounts", "tokens", "threads", "gateway")),
    ],
    "SendAccountMail": [
        (LOGS, logs("SendAccountMail")),
        (RECEIVE, queue("account-mail")),
        ("kms:Decrypt", DATA_KEY, via_sqs("account-mail")),
        ("dynamodb:GetItem dynamodb:UpdateItem", table("accounts")),
        ("dynamodb:Query", table("accounts/index/by_email")),
        ("dynamodb:PutItem", table("tokens")),
        ("dynamodb:GetItem dynamodb:PutItem dynamodb:DeleteItem", table("gateway")),
        ("s3:PutObject", bucket("audit", "/records/*")),
        ("ses:SendEmail", IDENTITY, FROM_NO_REPLY),
        ("kms:GenerateDataKey", DATA_KEY, via_s3("audit")),
        ("kms:Decrypt", DATA_KEY, via_dynamodb("accounts", "tokens", "gateway")),
    ],
    "AttachmentDownload": [
        (LOGS, logs("AttachmentDownload")),
        ("dynamodb:GetItem dynamodb:UpdateItem", table("tokens")),
        ("dynamodb:GetItem", table("accounts")),
        ("dynamodb:GetItem dynamodb:Query", table("threads")),
        ("s3:GetObject", bucket("messages", "/threads/*")),
        ("s3:PutObject", bucket("audit", "/records/*")),
        ("kms:Decrypt", DATA_KEY, content("content", "attachment")),
        ("kms:GenerateDataKey", DATA_KEY, via_s3("audit")),
        ("kms:Decrypt", DATA_KEY, via_s3("messages")),
        ("kms:Decrypt", DATA_KEY, via_dynamodb("accounts", "tokens", "threads")),
    ],
    "WriteAuditDigests": [
        (LOGS, logs("WriteAuditDigests")),
        ("s3:PutObject", [bucket("audit", "/records/*"), bucket("audit", "/digests/*")]),
        (
            "s3:ListBucket s3:ListBucketVersions",
            bucket("audit"),
            {"StringLike": {"s3:prefix": ["records/*", "digests/*"]}},
        ),
        ("s3:GetObject s3:GetObjectVersion", [bucket("audit", "/records/*"), bucket("audit", "/digests/*")]),
        ("kms:GenerateDataKey kms:Decrypt", DATA_KEY, via_s3("audit")),
        (
            "kms:Sign",
            SIGNING_KEY,
            {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_384", "kms:MessageType": "RAW"}},
        ),
        ("kms:GetPublicKey", SIGNING_KEY),
    ],
}


# --- reading the template -----------------------------------------------------------------------


class _Symbolic(Resolver):
    """The provisioner's interpreter of intrinsics, with resources named instead of created."""

    def __init__(self, template: Mapping[str, Any]) -> None:
        super().__init__(template, Provisioned("STACK"), "REGION", "ACCOUNT", SAMPLE_PARAMETERS, strict=False)
        self._resources = template["Resources"]

    def ref(self, name: str) -> Any:
        return name if name in self._resources else super().ref(name)

    def get_att(self, name: str, attribute: str) -> str:
        return f"{name}.{attribute}"


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _condition(raw: Mapping[str, Mapping[str, Any]] | None) -> Condition:
    return frozenset(
        (operator, key, tuple(sorted(str(v) for v in _listed(values))))
        for operator, pairs in (raw or {}).items()
        for key, values in pairs.items()
    )


def _grants(actions: Any, resources: Any, condition: Mapping[str, Any] | None) -> set[Grant]:
    actions = actions.split() if isinstance(actions, str) and " " in actions else _listed(actions)
    return {(a, r, _condition(condition)) for a in actions for r in _listed(resources)}


def expected(function: str) -> set[Grant]:
    found: set[Grant] = set()
    for row in MATRIX[function]:
        actions, resources, condition = (*row, None)[:3]
        found |= _grants(actions, resources, condition)
    return found


def _key_statements(template: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    resolver = _Symbolic(template)
    for name, spec in template["Resources"].items():
        if spec["Type"] == "AWS::KMS::Key":
            for statement in resolver.resolve(spec["Properties"]["KeyPolicy"])["Statement"]:
                yield name, statement


def _role_statements(template: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    resolver = _Symbolic(template)
    properties = template["Resources"][role]["Properties"]
    return [
        statement
        for policy in properties.get("Policies", [])
        for statement in resolver.resolve(policy["PolicyDocument"])["Statement"]
    ]


def granted(template: Mapping[str, Any], role: str) -> set[Grant]:
    """Everything ``role`` may do: its IAM statements and the key-policy statements that name it."""
    assert not template["Resources"][role]["Properties"].get("ManagedPolicyArns"), role
    found: set[Grant] = set()
    for statement in _role_statements(template, role):
        assert statement["Effect"] == "Allow" and not {"NotAction", "NotResource"} & set(statement), statement
        found |= _grants(statement["Action"], statement["Resource"], statement.get("Condition"))
    for key, statement in _key_statements(template):
        if f"{role}.Arn" in _listed(statement["Principal"].get("AWS", [])):
            assert statement["Effect"] == "Allow" and statement["Resource"] == "*", statement
            found |= _grants(statement["Action"], f"key:{key}", statement.get("Condition"))
    return found


def _show(grant: Grant) -> str:
    action, resource, condition = grant
    when = "; ".join(f"{op} {key}={'|'.join(values)}" for op, key, values in sorted(condition))
    return f"{action} on {resource}" + (f" when {when}" if when else "")


def matrix_problems(template: Mapping[str, Any]) -> list[str]:
    """How the template's grants differ from MATRIX, one readable line per grant; empty when equal."""
    problems = []
    for function, role in FUNCTION_ROLES.items():
        actual, wanted = granted(template, role), expected(function)
        problems += [f"{function} ({role}) lacks: {_show(g)}" for g in sorted(wanted - actual)]
        problems += [f"{function} ({role}) may also: {_show(g)}" for g in sorted(actual - wanted)]
    return problems


@pytest.fixture(scope="module")
def merged(merged_package: Any) -> dict[str, Any]:
    return dict(merged_package.template)


# --- the tests ----------------------------------------------------------------------------------


def test_every_function_has_exactly_the_permissions_of_the_matrix(merged: dict[str, Any]) -> None:
    problems = matrix_problems(merged)
    assert not problems, "the roles differ from the matrix in tests/test_roles.py:\n" + "\n".join(problems)


def _widen_an_action(template: dict[str, Any]) -> str:
    statement = _statement(template, "RouteInboundMailRole", "Threads")
    statement["Action"].append("dynamodb:DeleteItem")
    return f"may also: dynamodb:DeleteItem on {table('threads')}"


def _widen_a_resource(template: dict[str, Any]) -> str:
    statement = _statement(template, "RouteInboundMailRole", "Threads")
    sessions = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AWS::StackName}-sessions"
    statement["Resource"] = [statement["Resource"], {"Fn::Sub": sessions}]
    return f"may also: dynamodb:GetItem on {table('sessions')}"


def _widen_a_key_policy(template: dict[str, Any]) -> str:
    policy = template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    (statement,) = [s for s in policy if s.get("Sid") == "AttachmentDownloadDecryptsAttachments"]
    statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"] = ["attachment", "content", "subject"]
    return "AttachmentDownload (AttachmentDownloadRole) may also: kms:Decrypt on key:DataKey"


def _statement(template: dict[str, Any], role: str, sid: str) -> dict[str, Any]:
    statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (found,) = [s for s in statements if s["Sid"] == sid]
    assert isinstance(found, dict)
    if isinstance(found["Action"], str):
        found["Action"] = [found["Action"]]
    return found


@pytest.mark.parametrize("widen", [_widen_an_action, _widen_a_resource, _widen_a_key_policy])
def test_the_comparison_fails_when_one_statement_is_widened(merged: dict[str, Any], widen: Any) -> None:
    widened = copy.deepcopy(merged)
    expected_problem = widen(widened)
    problems = matrix_problems(widened)
    assert problems and any(expected_problem in p for p in problems), problems
    assert not matrix_problems(merged)  # the original is untouched


def test_every_function_runs_as_its_own_role_and_chalice_adds_no_role(merged: dict[str, Any]) -> None:
    resources = merged["Resources"]
    functions = {n: s for n, s in resources.items() if s["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == set(FUNCTION_ROLES)
    for name, spec in functions.items():
        assert spec["Properties"]["Role"] == {"Fn::GetAtt": [FUNCTION_ROLES[name], "Arn"]}, name
    roles = {n for n, s in resources.items() if s["Type"] == "AWS::IAM::Role"}
    assert roles == set(FUNCTION_ROLES.values()) | OTHER_ROLES  # no DefaultRole
    assert not [n for n, s in resources.items() if s["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]


def test_the_router_cannot_reach_the_sessions_table(merged: dict[str, Any]) -> None:
    for action, resource, condition in granted(merged, "RouteInboundMailRole"):
        assert "sessions" not in resource, action
        assert not any("sessions" in value for _, _, values in condition for value in values), action


def test_only_the_digest_writer_may_sign(merged: dict[str, Any]) -> None:
    signers = [
        (key, statement.get("Sid"))
        for key, statement in _key_statements(merged)
        if any(re.fullmatch(a.replace("*", ".*"), "kms:Sign") for a in _listed(statement["Action"]))
    ]
    assert signers == [("AuditSigningKey", "DigestWriterSigns")]
    for role in [*FUNCTION_ROLES.values(), *OTHER_ROLES]:
        for statement in _role_statements(merged, role):
            assert not any(re.fullmatch(a.replace("*", ".*"), "kms:Sign") for a in _listed(statement["Action"]))
    assert {a for a, _, _ in granted(merged, "AuditDigestRole") if a.startswith("kms:Sign")} == {"kms:Sign"}


def test_no_role_may_use_every_resource_or_every_action(merged: dict[str, Any]) -> None:
    # SES takes identity and configuration-set ARNs, so no statement needs "*". (A key policy's
    # Resource is always "*": it means the key itself, the only value KMS allows there.)
    for role in [*FUNCTION_ROLES.values(), *OTHER_ROLES]:
        for statement in _role_statements(merged, role):
            assert "*" not in _listed(statement["Resource"]), (role, statement.get("Sid"))
            assert not any(a == "*" or a.endswith(":*") for a in _listed(statement["Action"])), role
    for key, statement in _key_statements(merged):
        assert statement["Resource"] == "*"
        assert statement["Principal"] != "*" and "*" not in _listed(statement["Principal"].get("AWS", [])), key


def test_every_arn_in_the_roles_names_a_resource_of_the_template(merged: dict[str, Any]) -> None:
    resolver = _Symbolic(merged)
    resources = merged["Resources"]
    tables = {
        resolver.resolve(s["Properties"]["TableName"])
        for s in resources.values()
        if s["Type"] == "AWS::DynamoDB::Table"
    }
    buckets = {
        resolver.resolve(s["Properties"]["BucketName"]) for s in resources.values() if s["Type"].endswith("Bucket")
    }
    groups = {
        resolver.resolve(
            resources[spec["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        )
        for name, spec in resources.items()
        if name in FUNCTION_ROLES
    }
    named = set()
    for function, role in FUNCTION_ROLES.items():
        for _, resource, condition in granted(merged, role):
            named |= {resource} | {value for _, _, values in condition for value in values}
            if resource.startswith("arn:aws:logs:"):
                assert resource.split(":log-group:")[1].removesuffix(":*") == f"/aws/lambda/STACK/{function}"
    assert {n.split(":table/")[1].split("/")[0] for n in named if ":table/" in n} <= tables
    assert {n.split(":s3:::")[1].split("/")[0] for n in named if ":s3:::" in n} <= buckets
    queues = {
        resolver.resolve(s["Properties"]["QueueName"]) for s in resources.values() if s["Type"] == "AWS::SQS::Queue"
    }
    assert {n.rsplit(":", 1)[1] for n in named if n.startswith("arn:aws:sqs:")} <= queues
    assert {v for v in named if v.startswith("STACK-") and not v.endswith("-tls-required")} <= tables
    assert {f"/aws/lambda/STACK/{f}" for f in FUNCTION_ROLES} == groups


def test_the_api_only_sends_to_the_account_mail_queue_and_its_worker_reaches_no_session_or_thread(
    merged: dict[str, Any],
) -> None:
    api_queue_grants = {(a, r) for a, r, _ in granted(merged, "ApiHandlerRole") if a.startswith("sqs:")}
    assert api_queue_grants == {("sqs:SendMessage", queue("account-mail"))}
    for action, resource, condition in granted(merged, "SendAccountMailRole"):
        named = [resource, *(value for _, _, values in condition for value in values)]
        assert not any(kind in value for value in named for kind in ("sessions", "threads", "messages")), action
