"""docs/compliance.md stays true: every test it names exists, every HIPAA 164.312 item has a test,
and every ASVS 5.0 level-1/2 requirement of V6 and V7 has its row."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "compliance.md"

HIPAA_ITEMS = ("(a)(1)", "(a)(2)(i)", "(a)(2)(ii)", "(a)(2)(iii)", "(a)(2)(iv)", "(b)", "(c)(1)", "(d)", "(e)(1)")
# ASVS 5.0's level-1 and level-2 requirements of V6 (Authentication) and V7 (Session Management).
ASVS_V6 = (
    [f"6.1.{n}" for n in range(1, 4)]
    + [f"6.2.{n}" for n in range(1, 13)]
    + [f"6.3.{n}" for n in range(1, 5)]
    + [f"6.4.{n}" for n in range(1, 5)]
    + [f"6.5.{n}" for n in range(1, 6)]
    + [f"6.6.{n}" for n in range(1, 4)]
    + [f"6.8.{n}" for n in range(1, 5)]
)
ASVS_V7 = (
    [f"7.1.{n}" for n in range(1, 4)]
    + [f"7.2.{n}" for n in range(1, 5)]
    + [f"7.3.{n}" for n in range(1, 3)]
    + [f"7.4.{n}" for n in range(1, 6)]
    + [f"7.5.{n}" for n in range(1, 3)]
    + [f"7.6.{n}" for n in range(1, 3)]
)
STATUSES = ("Met", "Partly", "N/A")
_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")


def _rows(section: str) -> dict[str, list[str]]:
    """The table rows under the heading starting with ``section``: first cell → all cells."""
    text = MAP.read_text(encoding="utf-8")
    start = text.index("\n## " + section)
    end = text.find("\n## ", start + 1)
    rows: dict[str, list[str]] = {}
    for line in text[start : end if end != -1 else None].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


@functools.cache
def _tests_in(path: str) -> frozenset[str]:
    """Every test function of a test file, as ``name`` or ``Class::name``."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")
            )
    return frozenset(names)


def _references(cells: list[str]) -> list[tuple[str, str]]:
    return _TEST_REF.findall(cells[-1])


def test_every_named_test_exists() -> None:
    references = _TEST_REF.findall(MAP.read_text(encoding="utf-8"))
    assert len(references) > 50
    missing = [
        f"{path}::{name}" for path, name in references if not (ROOT / path).is_file() or name not in _tests_in(path)
    ]
    assert missing == []


def test_every_hipaa_technical_safeguard_has_a_test_and_is_met() -> None:
    rows = _rows("HIPAA")
    for item in HIPAA_ITEMS:
        assert item in rows, f"164.312{item} is not in the map"
        assert rows[item][3] == "Met", f"164.312{item} is {rows[item][3]}"
        assert _references(rows[item]), f"164.312{item} names no test"


@pytest.mark.parametrize(
    ("section", "ids"),
    [("OWASP ASVS 5.0, levels 1 and 2: V6", ASVS_V6), ("OWASP ASVS 5.0, levels 1 and 2: V7", ASVS_V7)],
)
def test_every_asvs_level_two_requirement_has_its_row(section: str, ids: list[str]) -> None:
    rows = _rows(section)
    assert [row for row in rows if row != "Id"] == ids
    for requirement in ids:
        status = rows[requirement][3]
        assert status in STATUSES, f"{requirement}: unknown status {status!r}"
        if status == "N/A":
            assert rows[requirement][2], f"{requirement} is N/A without a reason"
        else:
            assert _references(rows[requirement]), f"{requirement} is {status} but names no test"


def test_the_check_fails_for_a_test_that_does_not_exist() -> None:
    assert "test_every_named_test_exists" in _tests_in("tests/test_compliance_map.py")
    assert "test_that_was_never_written" not in _tests_in("tests/test_compliance_map.py")
