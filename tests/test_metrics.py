"""chalicelib/metrics.py and the audit hook: each audited event counts its metric as an EMF line
(namespace Sealpost, one dimension ``service``, unit Count), best effort."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import metrics
from chalicelib.audit.records import METRICS, Actor, AuditEvent, AuditLog, Outcome, RequestInfo, metric_for
from tests.lambda_logs import lambda_logging

CONTRACT = {
    "SignInSucceeded",
    "SignInFailed",
    "AccountLocked",
    "BreakGlassSignIn",
    "MessageSent",
    "DeliveredOverTls",
    "PickupNoticeSent",
    "DeliveryBounced",
    "MailRefused",
    "AccessDenied",
    "TamperDetected",
    "MfaReset",
}


def test_a_count_is_one_emf_document_at_the_top_of_the_lambda_json_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "sealpost-prod")
    with lambda_logging(monkeypatch) as sink:
        metrics.count("SignInFailed")
    (line,) = sink.lines
    directive = line["_aws"]["CloudWatchMetrics"]
    assert directive == [
        {"Namespace": "Sealpost", "Dimensions": [["service"]], "Metrics": [{"Name": "SignInFailed", "Unit": "Count"}]}
    ]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert (line["service"], line["SignInFailed"]) == ("sealpost-prod", 1)


def test_metrics_survive_a_root_level_of_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    with lambda_logging(monkeypatch) as sink:
        logging.getLogger().setLevel(logging.ERROR)
        metrics.count("AccessDenied")
    assert [m["AccessDenied"] for m in sink.metrics("AccessDenied")] == [1]


def test_the_service_falls_back_to_the_stack_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    monkeypatch.setenv("SEALPOST_STACK_NAME", "sealpost-stage")
    assert metrics.emf_document("X", at_ms=5)["service"] == "sealpost-stage"


def test_a_failing_emitter_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("no")

    monkeypatch.setattr(metrics.log, "info", broken)
    metrics.count("MessageSent")


def test_counting_failure_counts_once_and_lets_the_exception_through(monkeypatch: pytest.MonkeyPatch) -> None:
    with lambda_logging(monkeypatch) as sink:
        with pytest.raises(KeyError), metrics.counting_failure("DigestRunFailed"):
            raise KeyError("x")
        with metrics.counting_failure("DigestRunFailed"):
            pass
    assert len(sink.metrics("DigestRunFailed")) == 1


def test_the_audit_events_map_onto_exactly_the_contracts_metrics() -> None:
    assert set(METRICS.values()) == CONTRACT
    assert metric_for(AuditEvent.MESSAGE_SENT, Outcome.SUCCESS) == "MessageSent"
    assert metric_for(AuditEvent.MESSAGE_SENT, Outcome.FAILURE) is None
    assert metric_for(AuditEvent.PICKUP_LINK_SENT, Outcome.SUCCESS) == "PickupNoticeSent"
    assert metric_for(AuditEvent.INBOUND_SENDER_REFUSED, Outcome.DENIED) == "MailRefused"
    assert metric_for(AuditEvent.SIGNIN_FAILED, Outcome.FAILURE) == "SignInFailed"
    assert metric_for(AuditEvent.MESSAGE_OPENED, Outcome.SUCCESS) is None


class _S3:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def put_object(self, **_: Any) -> None:
        if self.fail:
            raise RuntimeError("down")


def _audit(counted: list[str], s3: _S3, fail_metric: bool = False) -> AuditLog:
    def count(name: str) -> None:
        if fail_metric:
            raise RuntimeError("metrics down")
        counted.append(name)

    return AuditLog("bucket", "arn:aws:kms:us-east-1:1:key/k", lambda: s3, count_metric=count)


def test_an_audited_event_is_counted_after_its_record_is_stored() -> None:
    counted: list[str] = []
    audit = _audit(counted, _S3())
    audit.record(AuditEvent.ACCOUNT_LOCKED, actor=Actor.system(), request=RequestInfo.system())
    audit.record(AuditEvent.MESSAGE_OPENED, actor=Actor.system(), request=RequestInfo.system())
    assert counted == ["AccountLocked"]


def test_an_event_whose_record_failed_is_not_counted() -> None:
    from chalicelib.errors import AuditUnavailable

    counted: list[str] = []
    with pytest.raises(AuditUnavailable):
        _audit(counted, _S3(fail=True)).record(
            AuditEvent.ACCESS_DENIED, actor=Actor.system(), request=RequestInfo.system()
        )
    assert counted == []


def test_a_failing_metric_never_fails_the_audited_operation() -> None:
    record = _audit([], _S3(), fail_metric=True).record(
        AuditEvent.TAMPER_DETECTED, actor=Actor.system(), request=RequestInfo.system(), outcome=Outcome.FAILURE
    )
    assert record.event is AuditEvent.TAMPER_DETECTED
