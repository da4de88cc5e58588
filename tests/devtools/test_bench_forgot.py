"""The forgot-password bench times every kind of identifier against the app, alternating, and prints
its table (no timed assertion: the figures are for people to read)."""

from __future__ import annotations

import pytest

from devtools import bench_forgot


def test_every_kind_is_timed_the_same_number_of_times_and_the_ratio_is_computed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_forgot.print_forgot_table(requests_per_kind=3)
    out = capsys.readouterr().out
    for kind in bench_forgot.KINDS:
        (row,) = [line for line in out.splitlines() if line.startswith(f"| {kind:<20} |")]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == "3" and cells[2].endswith(" ms") and cells[3].endswith(" ms")
    assert "Known / unknown median: " in out


def test_the_known_kinds_name_an_account_that_exists_and_the_unknown_ones_do_not() -> None:
    known = {kind: make(0) for kind, (is_known, make) in bench_forgot.KINDS.items() if is_known}
    unknown = [make(1) for is_known, make in bench_forgot.KINDS.values() if not is_known]
    assert set(known.values()) == {bench_forgot.PARTNER.username, bench_forgot.PARTNER.email}
    assert all(name not in known.values() for name in unknown)
    rows = [
        bench_forgot.ForgotRow("known", True, (0.002, 0.002)),
        bench_forgot.ForgotRow("unknown", False, (0.001, 0.001)),
    ]
    assert bench_forgot.known_to_unknown(rows) == pytest.approx(2.0)
