"""The shape of the code holds: ruff and mypy clean, every package imports only what its
``__init__`` allows ("May import: ..."), no import cycle between modules or packages, no module
over 500 lines, and the top level of ``chalicelib`` holds only packages and the shared core."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MAX_LINES = 500


def test_ruff_reports_nothing() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_reports_nothing() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the import rules, read from the packages' own docstrings ---------------------------------

CORE = "core"
MAY_IMPORT = re.compile(r"^(?:Core modules )?[Mm]ay import: (.+?)\.?$", re.MULTILINE)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. chalicelib.messaging.sender
    target: str  # what it imports, resolved to a module where one exists
    line: int


def package_of(module: str) -> str:
    """``core`` for a shared-core module, else the feature package (``web.http`` counts as ``web``)."""
    parts = module.split(".")
    if parts[0] != "chalicelib":
        return parts[0]
    return CORE if len(parts) == 2 else parts[1]


def module_name(root: Path, path: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def modules_of(root: Path) -> dict[str, Path]:
    found = {module_name(root, p): p for p in (root / "chalicelib").rglob("*.py")}
    found["app"] = root / "app.py"
    return found


def imports_of(root: Path) -> list[Import]:
    """Every import statement of ``chalicelib`` and ``app.py``, at any depth (also inside functions
    and ``TYPE_CHECKING``): a cycle that only a type checker follows is still a cycle of design."""
    modules = modules_of(root)
    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    target = candidate if candidate in modules else node.module
                    found.append(Import(module, target, node.lineno))
    return found


def allowed_imports(root: Path) -> dict[str, set[str]]:
    """Each package's "May import" line (and the core's, in ``chalicelib/__init__.py``)."""
    rules: dict[str, set[str]] = {}
    for init in [root / "chalicelib" / "__init__.py", *sorted((root / "chalicelib").glob("*/__init__.py"))]:
        found = MAY_IMPORT.search(ast.get_docstring(ast.parse(init.read_text())) or "")
        assert found, f"{init.relative_to(root)} does not say what its package may import"
        package = CORE if init.parent.name == "chalicelib" else init.parent.name
        rules[package] = {name.strip() for name in found.group(1).split(",")}
    rules["app"] = {CORE, "web", "wiring", "chalice"}
    return rules


def forbidden_imports(root: Path) -> list[str]:
    rules = allowed_imports(root)
    problems = []
    for found in imports_of(root):
        source, target = package_of(found.module), package_of(found.target)
        is_ours = found.target.split(".")[0] in ("chalicelib", "devtools")
        if target == source or not (is_ours or target == "chalice"):
            continue
        if target not in rules.get(source, set()):
            problems.append(f"{found.module}:{found.line} imports {found.target} ({source} may not import {target})")
    return problems


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def module_cycles(root: Path) -> list[list[str]]:
    ours = modules_of(root)
    return cycles((i.module, i.target) for i in imports_of(root) if i.target in ours and i.target != i.module)


def package_cycles(root: Path) -> list[list[str]]:
    ours = modules_of(root)
    edges = {
        (package_of(i.module), package_of(i.target))
        for i in imports_of(root)
        if i.target in ours and package_of(i.module) != package_of(i.target)
    }
    return cycles(edges)


def test_every_package_imports_only_what_its_docstring_allows() -> None:
    assert forbidden_imports(ROOT) == []


def test_there_is_no_import_cycle_between_modules() -> None:
    assert module_cycles(ROOT) == []


def test_there_is_no_import_cycle_between_packages() -> None:
    assert package_cycles(ROOT) == []


def copy_of_the_code(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "chalicelib", tmp_path / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_a_forbidden_import_is_found(tmp_path: Path) -> None:
    root = copy_of_the_code(tmp_path)
    add_line(root / "chalicelib" / "accounts" / "signin.py", "from chalicelib.web.http import pages  # noqa")
    add_line(root / "chalicelib" / "messaging" / "model.py", "import chalice  # noqa")
    add_line(root / "chalicelib" / "audit" / "records.py", "from devtools import seed  # noqa")
    problems = forbidden_imports(root)
    assert any("chalicelib.accounts.signin" in p and "accounts may not import web" in p for p in problems)
    assert any("chalicelib.messaging.model" in p and "messaging may not import chalice" in p for p in problems)
    assert any("chalicelib.audit.records" in p and "audit may not import devtools" in p for p in problems)
    assert len(problems) == 3


def test_an_import_cycle_is_found_between_modules_and_between_packages(tmp_path: Path) -> None:
    root = copy_of_the_code(tmp_path)
    # The model is imported by the sender; importing the sender back closes a loop.
    add_line(root / "chalicelib" / "messaging" / "model.py", "from chalicelib.messaging import sender  # noqa")
    assert any({"chalicelib.messaging.model", "chalicelib.messaging.sender"} <= set(c) for c in module_cycles(root))
    assert package_cycles(root) == []
    add_line(root / "chalicelib" / "mail" / "notices.py", "from chalicelib.accounts import model  # noqa")
    assert any({"accounts", "mail"} <= set(c) for c in package_cycles(root))


def test_a_package_without_its_rule_is_refused(tmp_path: Path) -> None:
    root = copy_of_the_code(tmp_path)
    (root / "chalicelib" / "reports").mkdir()
    (root / "chalicelib" / "reports" / "__init__.py").write_text('"""Reports."""\n')
    try:
        allowed_imports(root)
    except AssertionError as refused:
        assert "chalicelib/reports/__init__.py does not say what its package may import" in str(refused)
    else:
        raise AssertionError("a package without a 'May import' line was accepted")


# --- sizes and the top level -----------------------------------------------------------------


def test_no_module_is_over_500_lines() -> None:
    paths = [*(ROOT / "chalicelib").rglob("*.py"), *(ROOT / "devtools").rglob("*.py"), ROOT / "app.py"]
    long = {str(p.relative_to(ROOT)): n for p in paths if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_top_level_holds_only_packages_resources_and_the_shared_core_it_names() -> None:
    top = ROOT / "chalicelib"
    doc = ast.get_docstring(ast.parse((top / "__init__.py").read_text())) or ""
    named = set(re.findall(r"``(\w+)``", doc.split("Packages,")[0]))
    modules = {p.stem for p in top.glob("*.py") if p.name != "__init__.py"}
    assert modules == named
    folders = {p.name for p in top.iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.name for p in top.iterdir() if (p / "__init__.py").exists()}
    assert folders - packages == {"templates", "static"}


def test_no_class_has_a_constructor_that_only_stores_its_arguments() -> None:
    """Such a class is a dataclass: its fields say what it is made of, once."""
    found = []
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            init = next((i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"), None)
            if init is None:
                continue
            body = [s for s in init.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            if body and all(
                isinstance(s, ast.Assign)
                and all(isinstance(t, ast.Attribute) for t in s.targets)
                and isinstance(s.value, ast.Name)
                for s in body
            ):
                found.append(f"{path.relative_to(ROOT)}:{init.lineno} {node.name}")
    assert found == []
