"""The one shape (issue 15), checked on the source tree so it cannot drift back: layering, module size,
every service's parts, HTTP modules without SQL, SQL only in stores, no blanket type ignores."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "workflows", "shared")
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "main.py").exists())
# SQL as it is written in our code: a statement keyword followed by what only SQL puts after it
SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+(\.\w+)?\s+SET|DELETE\s+FROM|COPY\s+\()")


def modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def code_strings(path: Path) -> str:
    """The string literals a module executes with (docstrings left out: they may describe the SQL)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and (body := node.body) and isinstance(body[0], ast.Expr)
                  and isinstance(body[0].value, ast.Constant)}
    return "\n".join(n.value for n in ast.walk(tree)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def is_store(path: Path) -> bool:
    """``store.py``, a module of a ``store/`` package, or a store module of one concern (``store_<what>.py``,
    e.g. services/operations/store_accounts.py beside a store.py near its size limit)."""
    return path.stem == "store" or path.stem.startswith("store_") or "store" in path.relative_to(ROOT).parts


def test_the_layers_import_downwards_only() -> None:
    """services -> workflows -> shared: shared never imports workflows or services, workflows never import
    services (an activity is called by name)."""
    upward = [f"{rel(p)} imports {name}" for p in modules("shared") for name in imported(p)
              if name.split(".")[0] in ("services", "workflows", "deploy")]
    upward += [f"{rel(p)} imports {name}" for p in modules("workflows") for name in imported(p)
               if name.split(".")[0] in ("services", "deploy")]
    assert not upward, upward


def test_no_module_over_500_lines() -> None:
    long = {rel(p): n for p in modules(*PACKAGES) if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, long


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_parts(service: str) -> None:
    folder = ROOT / "services" / service
    missing = [part for part in ("main.py", "routes.py", "activities.py", "migrations")
               if not (folder / part).exists()]
    if not ((folder / "store.py").exists() or (folder / "store").is_dir()):
        missing.append("store.py (or store/)")
    assert not missing, f"services/{service} lacks {missing}"


def test_http_modules_hold_no_sql_and_no_pool() -> None:
    """A route maps HTTP to the service and back; the store does the SQL."""
    found = []
    for p in modules("services"):
        text = p.read_text(encoding="utf-8")
        if "APIRouter(" not in text and "@app." not in text:
            continue
        if SQL.search(code_strings(p)):
            found.append(f"{rel(p)}: SQL")
        if re.search(r"\bpool\.(acquire|fetch|execute)|\.acquire\(\)", text):
            found.append(f"{rel(p)}: pool access")
    assert not found, found


def test_the_sql_of_a_service_lives_in_its_store() -> None:
    outside = [rel(p) for p in modules("services") if not is_store(p) and SQL.search(code_strings(p))]
    assert not outside, outside


def test_no_blanket_type_ignore() -> None:
    """Every ignore names its error code, so mypy still checks the rest of the line."""
    blanket = [f"{rel(p)}:{i}" for p in modules(*PACKAGES, "deploy")
               for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"#\s*type:\s*ignore(?!\[)", line)]
    assert not blanket, blanket
