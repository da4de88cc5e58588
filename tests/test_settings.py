"""Settings are read from the environment at call time and refuse bad values clearly."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from chalicelib import settings as settings_module
from chalicelib.errors import ConfigurationError
from chalicelib.settings import Settings, specs
from tests.support import SETTINGS_ENV as BASE


def test_defaults_follow_the_source_documents() -> None:
    settings = Settings.from_env(BASE)
    assert settings.lockout_threshold == 3
    assert settings.max_interactions == 12
    assert settings.credential_scope == "recipient"
    assert settings.session_idle_seconds == 15 * 60
    assert settings.session_absolute_seconds == 12 * 3600
    assert settings.internal_domains == ("plan.example", "corp.plan.example")
    assert settings.portal_url == "https://portal.test"


def test_internal_addresses_are_recognised_by_domain_case_insensitively() -> None:
    settings = Settings.from_env(BASE)
    assert settings.is_internal_address("Alice@PLAN.example")
    assert not settings.is_internal_address("alice@plan.example.evil.test")


def test_settings_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "thread")
    assert Settings.from_env().credential_scope == "thread"
    monkeypatch.setenv("SEALPOST_CREDENTIAL_SCOPE", "recipient")
    assert Settings.from_env().credential_scope == "recipient"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEALPOST_LOCKOUT_THRESHOLD", "three", "whole number"),
        ("SEALPOST_LOCKOUT_THRESHOLD", "0", "between 1 and 20"),
        ("SEALPOST_CREDENTIAL_SCOPE", "everyone", "one of recipient, thread"),
        ("SEALPOST_SELF_SERVICE_UNLOCK", "maybe", "true or false"),
        ("SEALPOST_KMS_KEY_ARN", "alias/sealpost", "key ARN"),
        ("SEALPOST_INTERNAL_DOMAINS", " , ", "at least one domain"),
        ("SEALPOST_AUDIT_DIGEST_MINUTES", "45", "must be one of"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        Settings.from_env({**BASE, name: value})
    assert name in str(caught.value) or "KMS" in str(caught.value)


def test_a_missing_resource_name_is_a_configuration_error() -> None:
    env = dict(BASE)
    del env["SEALPOST_AUDIT_BUCKET"]
    with pytest.raises(ConfigurationError, match="SEALPOST_AUDIT_BUCKET is not set"):
        Settings.from_env(env)


def test_gateway_limits_default_to_25_mb_and_a_day_of_tls_cache() -> None:
    settings = Settings.from_env(BASE)
    assert settings.gateway_table == "g"
    assert settings.max_mail_bytes == 25 * 1024 * 1024
    assert settings.tls_cache_seconds == 24 * 3600
    changed = Settings.from_env({**BASE, "SEALPOST_MAX_MAIL_MB": "10", "SEALPOST_TLS_CACHE_HOURS": "2"})
    assert (changed.max_mail_bytes, changed.tls_cache_seconds) == (10 * 1024 * 1024, 7200)
    with pytest.raises(ConfigurationError, match="SEALPOST_MAX_MAIL_MB must be between 1 and 40"):
        Settings.from_env({**BASE, "SEALPOST_MAX_MAIL_MB": "41"})


def test_a_setting_of_the_table_is_read_from_its_variable_in_its_unit() -> None:
    changed = Settings.from_env(
        {**BASE, "SEALPOST_LOCKOUT_THRESHOLD": "5", "SEALPOST_SESSION_IDLE_MINUTES": "30", "SEALPOST_MAX_MAIL_MB": "10"}
    )
    assert changed.lockout_threshold == 5
    assert changed.session_idle_seconds == 30 * 60
    assert changed.max_mail_bytes == 10 * 1024 * 1024
    # Every whole-number setting, set to its upper bound, arrives converted to the field's unit.
    integers = {name: spec for name, spec in specs().items() if spec.kind == "integer"}
    env = {**BASE, **{spec.variable: str(max(spec.choices or (spec.high,))) for spec in integers.values()}}
    top = Settings.from_env(env)
    for name, spec in integers.items():
        assert getattr(top, name) == spec.unit * max(spec.choices or (spec.high,)), name


def test_defaults_apply_when_a_variable_is_unset_or_empty() -> None:
    unset, empty = Settings.from_env(BASE), Settings.from_env({**BASE, "SEALPOST_LOCKOUT_THRESHOLD": " "})
    assert unset.lockout_threshold == empty.lockout_threshold == 3
    for item in fields(Settings):
        spec = specs().get(item.name)
        if spec is not None and spec.default is not None:
            expected = spec.unit * spec.default if spec.kind == "integer" else spec.default
            assert getattr(unset, item.name) == item.default == expected, item.name
    assert unset.max_attachment_bytes == 100 * 1024 * 1024 and unset.tls_cache_seconds == 24 * 3600
    assert unset.region == "us-east-1" and unset.unknown_user_guard_seconds == 24 * 3600
    assert Settings.from_env({**BASE, "AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"


def test_each_setting_is_declared_once_with_one_variable() -> None:
    table = specs()
    variables = [spec.variable for spec in table.values()]
    assert len(variables) == len(set(variables))
    fixed = {item.name for item in fields(Settings)} - set(table)
    assert fixed == {"unknown_user_guard_seconds"}  # the only field not read from the environment
    for name, spec in table.items():
        assert spec.variable.startswith("SEALPOST_") or name == "region", name
        if spec.kind == "integer":
            assert spec.low is not None and spec.high is not None, name
            assert all(spec.low <= choice <= spec.high for choice in spec.choices), name


def test_the_settings_module_imports_no_feature_package() -> None:
    # Shared core: every feature package may import the settings, so they import none of them.
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(settings_module.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "chalicelib":
            imported |= {f"chalicelib.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert {name for name in imported if name.startswith("chalicelib")} <= {"chalicelib.errors", "chalicelib.branding"}
