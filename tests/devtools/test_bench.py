"""`make bench` runs and prints the speed ratio and the KMS-call table."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def test_make_bench_prints_the_ratio_and_kms_call_tables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devtools.bench"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "raw AES-256-GCM" in out and "ratio" in out
    for size in ("1 KB", "100 KB", "10 MB"):
        assert f"| {size}" in out
    ours = next(line for line in out.splitlines() if "(Sealpost)" in line)
    generate, decrypt = (int(cell) for cell in ours.strip("| ").split("|")[1:3])
    assert generate <= 60 and decrypt <= 60
