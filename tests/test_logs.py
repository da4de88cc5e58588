"""chalicelib/logs.py: one JSON object a line, with the request's ids and the ``extra=`` fields,
as the Lambda runtime writes it (tests/lambda_logs.py runs awslambdaric's own setup)."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib import logs
from tests.lambda_logs import lambda_logging

EDGE = "chalicelib.web.http.middleware"


def test_a_warning_of_the_web_edge_reaches_the_runtime_as_json_with_its_extra_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app  # noqa: F401 - Chalice configures its own app logger at import

    with lambda_logging(monkeypatch) as sink:
        logging.getLogger(EDGE).warning("unavailable", extra={"error": "ServiceUnavailable", "status": 503})
    (line,) = sink.lines
    assert line["level"] == "WARNING" and line["logger"] == EDGE and line["message"] == "unavailable"
    assert (line["error"], line["status"]) == ("ServiceUnavailable", 503)
    assert line["requestId"] == "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
    assert line["function"] == "sealpost-test-APIHandler"
    assert line["timestamp"].endswith("Z")
    ((_, frame_type),) = sink.frames
    assert frame_type == (0xA55A0012).to_bytes(4, "big")  # the runtime's JSON WARNING frame


def test_our_loggers_are_not_children_of_chalices_app_logger() -> None:
    from app import app

    chalice_log = logging.getLogger(app.app_name)
    assert chalice_log.level == logging.ERROR and not chalice_log.propagate
    for name in (EDGE, "chalicelib.gateway.router", "chalicelib.metrics", "app"):
        assert not name.startswith(app.app_name + ".")


def test_every_line_inside_a_bound_block_carries_its_ids_and_they_end_with_the_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = logging.getLogger("chalicelib.gateway.router")
    with lambda_logging(monkeypatch, function="sealpost-test-route_inbound_mail") as sink:
        with logs.bound(sqs_message_id="sqs-1", ses_message_id="ses-1"):
            log.warning("first")
            logs.bind(thread_id="t-1")
            log.warning("second", extra={"ses_message_id": "from-the-line"})
        log.warning("after")
    first, second, after = sink.lines
    assert (first["sqs_message_id"], first["ses_message_id"], first.get("thread_id")) == ("sqs-1", "ses-1", None)
    assert (second["thread_id"], second["ses_message_id"]) == ("t-1", "from-the-line")
    assert {"sqs_message_id", "ses_message_id", "thread_id"}.isdisjoint(after)
    assert after["function"] == "sealpost-test-route_inbound_mail"


def test_an_exception_is_logged_by_its_type_only_never_its_message_or_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with lambda_logging(monkeypatch) as sink:
        try:
            raise ValueError("Subject: biopsy results for Jane Roe")
        except ValueError:
            logging.getLogger("chalicelib.mail.mailer").exception("mail not sent")
    ((text, _),) = sink.frames
    assert "biopsy" not in text and "Traceback" not in text and "Jane" not in text
    line = json.loads(text)
    assert line["error_type"] == "ValueError" and "errorMessage" not in line and "stackTrace" not in line


def test_the_text_log_format_gets_our_json_formatter_so_extra_fields_still_arrive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with lambda_logging(monkeypatch, log_format="TEXT") as sink:
        logging.getLogger(EDGE).warning("unavailable", extra={"error": "ServiceUnavailable"})
    ((text, _),) = sink.frames
    line = json.loads(text)
    assert (line["level"], line["error"], line["requestId"]) == (
        "WARNING",
        "ServiceUnavailable",
        "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
    )


def test_outside_lambda_lines_go_to_stderr_as_the_same_json(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure()
    logs.configure()  # idempotent: one handler, one line
    with logs.bound(request_id="r-1"):
        logging.getLogger(EDGE).warning("unavailable", extra={"status": 503})
    lines = [json.loads(t) for t in capsys.readouterr().err.splitlines() if t.startswith("{")]
    (line,) = [x for x in lines if x.get("request_id") == "r-1"]
    assert (line["logger"], line["message"], line["status"], line["level"]) == (EDGE, "unavailable", 503, "WARNING")


def test_json_formatter_writes_the_runtime_fields_and_drops_empty_ones() -> None:
    record = logging.makeLogRecord({"name": "x", "levelno": 30, "levelname": "WARNING", "msg": "m %s", "args": ("a",)})
    record.code = "busy"
    line = json.loads(logs.JsonFormatter().format(record))
    assert set(line) == {"timestamp", "level", "message", "logger", "code"}
    assert line["message"] == "m a"


def test_the_ses_message_id_is_read_from_a_notification_and_nothing_else() -> None:
    assert logs.ses_message_id(json.dumps({"mail": {"messageId": "abc"}})) == "abc"
    assert logs.ses_message_id("not json") is None
    assert logs.ses_message_id(json.dumps({"mail": "x"})) is None


def test_with_ses_message_id_binds_the_id_while_the_handler_runs() -> None:
    seen = logs.with_ses_message_id(lambda notification: logs.context())(json.dumps({"mail": {"messageId": "m1"}}))
    assert seen == {"ses_message_id": "m1"} and logs.context() == {}
