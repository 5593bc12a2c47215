"""``backend/core`` is what every domain builds on: it imports no domain package."""

from __future__ import annotations

import ast
from pathlib import Path

import backend

BACKEND = Path(backend.__file__).parent
DOMAINS = frozenset(
    p.name for p in BACKEND.iterdir() if (p / "__init__.py").exists() and p.name != "core"
)


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an import statement names, at any depth (function-level imports too)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.extend(
                [node.module]
                if node.module != "backend"
                else [f"backend.{alias.name}" for alias in node.names]
            )
    return found


def test_core_imports_no_domain_package() -> None:
    files = sorted((BACKEND / "core").glob("*.py"))
    assert files
    assert {"profiles", "auth", "segments"} <= DOMAINS
    offending = [
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if module.split(".")[0] == "backend"
        and len(module.split(".")) > 1
        and module.split(".")[1] in DOMAINS
    ]
    assert offending == []


def test_the_walk_sees_a_domain_import() -> None:
    tree = ast.parse(
        "def f():\n    from backend.auth.caller import Caller\nfrom backend import rfm\n"
    )
    assert sorted(imported_modules(tree)) == ["backend.auth.caller", "backend.rfm"]
