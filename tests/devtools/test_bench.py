"""`make bench` runs and prints the speed ratio, the KMS-call table and the attachments' peak memory."""

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
    assert "Peak memory of an attachment's paths" in out and "| download  |" in out
    ours = next(line for line in out.splitlines() if "(Sealpost)" in line)
    generate, decrypt = (int(cell) for cell in ours.strip("| ").split("|")[1:3])
    assert generate <= 60 and decrypt <= 60


def test_make_bench_measures_attachment_memory_that_stays_flat_and_within_256_mb() -> None:
    from devtools import bench_memory

    for case in bench_memory.CASES:
        small, large = bench_memory.measure(case, 25), bench_memory.measure(case, 100)
        assert large <= 256, (case, large)
        # Streaming: four times the file is not four times the memory.
        assert large < small + 16, (case, small, large)
