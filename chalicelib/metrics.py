"""CloudWatch metrics as Embedded Metric Format (EMF) log lines: ``count("SignInFailed")``.

Each count is one log record whose fields, at the top level of the JSON line that
``chalicelib.logs`` writes (Lambda's JSON log format or ``JsonFormatter``), form an EMF document:
``_aws`` (timestamp, namespace, the one dimension ``service``), ``service`` (the stack's name)
and the metric itself with the value 1. CloudWatch Logs turns such a line into a metric point;
no API call, no client, no permission. Outside Lambda the same line goes to stderr, where tests
read it.

Metrics are best effort: ``count`` never raises (the audit trail, not a metric, is the record).
The logger has its own level (INFO), so a root level of WARNING does not drop metrics; the
function's ``ApplicationLogLevel`` must stay INFO or lower, or Lambda drops them.

Namespace ``Sealpost`` (``POWERTOOLS_METRICS_NAMESPACE`` overrides it); the ``service`` value is
``POWERTOOLS_SERVICE_NAME``, else ``SEALPOST_STACK_NAME``, else ``sealpost``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)

DEFAULT_NAMESPACE = "Sealpost"
DIMENSION = "service"


def namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE


def service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("SEALPOST_STACK_NAME") or "sealpost"


def emf_document(name: str, value: int = 1, *, at_ms: int | None = None) -> dict[str, Any]:
    """The EMF fields of one Count point of ``name``."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if at_ms is None else at_ms,
            "CloudWatchMetrics": [
                {"Namespace": namespace(), "Dimensions": [[DIMENSION]], "Metrics": [{"Name": name, "Unit": "Count"}]}
            ],
        },
        DIMENSION: service(),
        name: value,
    }


def count(name: str, value: int = 1) -> None:
    """Emit ``value`` (default 1) of the Count metric ``name``. Never raises."""
    try:
        log.info("metric %s", name, extra=emf_document(name, value))
    except Exception as exc:  # a metric is never worth failing the operation for
        log.warning("metric not emitted", extra={"metric": name, "error": type(exc).__name__})


@contextmanager
def counting_failure(name: str) -> Iterator[None]:
    """Count ``name`` once if the block raises (the exception goes on)."""
    try:
        yield
    except BaseException:
        count(name)
        raise
