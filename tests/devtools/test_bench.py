"""`make bench` runs and prints the speed ratio, the KMS-call table, the attachments' peak memory, the
router's AWS calls by recipients and the forgot-password answer times."""

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
    # The router's AWS calls grow with the recipients, never faster: at most 12 a recipient at 500.
    assert "One inbound mail through the router" in out
    row = next(line for line in out.splitlines() if line.startswith("|        500 |"))
    assert float(row.strip("| ").split("|")[5]) <= 12
    assert "Forgot password: answer time by identifier" in out and "| unknown mail address |" in out
    assert "Known / unknown median:" in out


def test_make_bench_measures_attachment_memory_that_stays_flat_and_within_256_mb() -> None:
    from devtools import bench_memory

    for case in bench_memory.CASES:
        small, large = bench_memory.measure(case, 25), bench_memory.measure(case, 100)
        assert large <= 256, (case, large)
        # Streaming: four times the file is not four times the memory.
        assert large < small + 16, (case, small, large)


def test_every_function_has_memory_for_its_measured_peak_with_headroom() -> None:
    """The template's MemorySize: at least twice what `make bench` measures (at rest + the peak rise
    of what the function does with a 100 MB attachment), and 256 MB for any function."""
    from devtools import bench_memory
    from devtools.provision import load_template

    resources = load_template()["Resources"]
    at_rest = {label: bench_memory.baseline_mib(module) for label, module in bench_memory.FUNCTION_CODE.items()}
    app_at_rest, download_at_rest = at_rest.values()
    needs = {
        # the API encrypts uploads into the store and serves small files inline
        "APIHandler": app_at_rest + max(bench_memory.measure(c, 100) for c in ("encrypt", "decrypt")),
        "AttachmentDownload": download_at_rest + bench_memory.measure("download", 100),
        # these stream nothing large: the code at rest
        "HandleDeliveryEvents": app_at_rest,
        "WriteAuditDigests": app_at_rest,
        "RouteInboundMail": app_at_rest,
    }
    for function, peak in needs.items():
        memory = resources[function]["Properties"]["MemorySize"]
        assert memory >= max(256, 2 * peak), (function, memory, peak)
