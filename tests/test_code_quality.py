"""ruff and mypy stay clean (the style rules of the project, checked with every test run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff_reports_nothing() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_reports_nothing() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


CHALICE_IMPORT = re.compile(r"^\s*(from chalice[\s.]|import chalice\b)", re.MULTILINE)


def test_domain_code_never_imports_chalice() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "chalicelib").rglob("*.py")
        if "web" not in path.relative_to(ROOT / "chalicelib").parts and CHALICE_IMPORT.search(path.read_text())
    ]
    assert offenders == []
