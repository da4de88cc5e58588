"""Logging that reaches CloudWatch as one JSON object a line, and cannot leak content.

In Lambda the functions run with the JSON log format (``LoggingConfig: LogFormat: JSON`` in
infra/template.yaml): the runtime's own handler and formatter write each record as JSON with
``timestamp``, ``level``, ``message``, ``logger`` and ``requestId``, plus every ``extra=`` field
(the runtime's formatter copies a record's non-standard attributes). ``configure`` adds a filter to
that handler which puts the request's context on every record: the function's name and the ids
bound with ``bound``/``bind`` (``request_id``, ``sqs_message_id``, ``ses_message_id``,
``thread_id``, ...). Under the text log format, and outside Lambda (tests, ``make run``), records
go through ``JsonFormatter``, which writes the same fields.

Nothing of an exception but its type is logged: the filter turns ``exc_info`` into ``error_type``
and drops tracebacks, so an exception's message (which may quote what it handled) never reaches
the log. Our loggers are named after their modules (``chalicelib...``), never under Chalice's app
logger (``sealpost``), which Chalice sets to ERROR and stops propagating.

Library loggers stay at WARNING whatever the root level is: botocore, boto3 and urllib3 print
whole request bodies at DEBUG (mail content, items), and the Encryption SDK logs tracebacks.
Our own log lines carry event names, error types and ids only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO, TypeVar

T = TypeVar("T")
QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer", "aws_encryption_sdk")

# The attributes every LogRecord has; anything else on a record came from ``extra=`` or the filter.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "aws_request_id", "_frame_type"}

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "sealpost_log_context", default=MappingProxyType({})
)


@contextmanager
def bound(**keys: str | None) -> Iterator[None]:
    """Every line logged inside the block carries ``keys`` (ids only, never content); ``None`` is left out."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in keys.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**keys: str | None) -> None:
    """Add ``keys`` to the current context (e.g. a thread id found half-way); they end with the enclosing ``bound``."""
    _context.set({**_context.get(), **{k: str(v) for k, v in keys.items() if v is not None}})


def context() -> Mapping[str, str]:
    return dict(_context.get())


def ses_message_id(notification: str) -> str | None:
    """The SES message id (``mail.messageId``) of an SES notification or event, if it has one."""
    try:
        parsed = json.loads(notification)
    except ValueError:
        return None
    mail = parsed.get("mail") if isinstance(parsed, dict) else None
    found = mail.get("messageId") if isinstance(mail, dict) else None
    return found if isinstance(found, str) and found else None


class ContextFilter(logging.Filter):
    """Adds the function name and the bound ids to each record; keeps an exception's type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, str] = dict(_context.get())
        function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if function:
            fields["function"] = function
        for key, value in fields.items():
            if key not in record.__dict__:  # what the line itself passed in ``extra=`` wins
                setattr(record, key, value)
        if record.exc_info:
            if record.exc_info[0] is not None and "error_type" not in record.__dict__:
                record.error_type = record.exc_info[0].__name__
            record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class JsonFormatter(logging.Formatter):
    """The fields of Lambda's JSON log format (timestamp, level, message, logger, requestId) and every extra."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None) or None,
        }
        if record.exc_info and record.exc_info[0] is not None:  # a record that did not pass the filter
            document["error_type"] = record.exc_info[0].__name__
        document.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD and k not in document)
        return json.dumps({k: v for k, v in document.items() if v is not None}, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (pytest and ``make run`` swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _is_lambda_runtime(handler: logging.Handler) -> bool:
    """The Lambda runtime's own handler (it writes to the runtime's log sink)."""
    return hasattr(handler, "log_sink")


def configure() -> None:
    """Set up logging for this process (idempotent): JSON lines with the request's context."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
    root = logging.getLogger()
    runtime = [h for h in root.handlers if _is_lambda_runtime(h)]
    if runtime:
        json_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        for handler in runtime:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
            if not json_format:  # the text format would drop every extra field
                handler.setFormatter(JsonFormatter())
        for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
            root.removeHandler(handler)
    elif not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())


def with_ses_message_id(handle: Callable[[str], T]) -> Callable[[str], T]:
    """``handle`` an SES notification with its SES message id bound to every line it logs."""

    def handle_one(notification: str) -> T:
        with bound(ses_message_id=ses_message_id(notification)):
            return handle(notification)

    return handle_one
