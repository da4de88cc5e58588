"""Logging exactly as the Lambda Python runtime sets it up: awslambdaric's own ``_setup_logging``
(the JSON log format, its handler and formatter), with a sink that keeps every frame instead of
sending it to the platform. ``chalicelib.logs.configure`` then runs as it does at import in Lambda."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib import logs


@dataclass
class Sink:
    """What the runtime's handler hands to the platform: each formatted record and its frame type."""

    frames: list[tuple[str, bytes | None]] = field(default_factory=list)

    def log(self, msg: str, frame_type: bytes | None = None) -> None:
        self.frames.append((msg, frame_type))

    @property
    def lines(self) -> list[dict[str, Any]]:
        """Each frame parsed as JSON (a frame that is not one JSON object fails the test)."""
        parsed = []
        for text, _ in self.frames:
            assert text.endswith("\n") and text.count("\n") == 1, f"not one line: {text!r}"
            value = json.loads(text)
            assert isinstance(value, dict), text
            parsed.append(value)
        return parsed

    def metrics(self, name: str | None = None) -> list[dict[str, Any]]:
        found = [line for line in self.lines if "_aws" in line]
        return [m for m in found if name is None or name in m]


@contextmanager
def lambda_logging(
    monkeypatch: pytest.MonkeyPatch, *, function: str = "sealpost-test-APIHandler", log_format: str = "JSON"
) -> Iterator[Sink]:
    from awslambdaric import bootstrap  # type: ignore[import-untyped]
    from awslambdaric.lambda_runtime_log_utils import LogFormat  # type: ignore[import-untyped]

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.Formatter.converter)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", log_format)
    monkeypatch.setattr(bootstrap, "_GLOBAL_AWS_REQUEST_ID", "0f1e2d3c-aaaa-bbbb-cccc-000000000001")
    sink = Sink()
    root.handlers[:] = [h for h in root.handlers if type(h).__module__.startswith("_pytest")]
    bootstrap._setup_logging(LogFormat.from_str(log_format), "INFO", sink)
    logs.configure()
    try:
        yield sink
    finally:
        root.handlers[:], level, logging.Formatter.converter = saved
        root.setLevel(level)
