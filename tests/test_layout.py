"""The package layering the dashboards and the extension build on: no import cycles between
`pipelines` and `promotion`, and no UI or server framework in the core."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "workbench"


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (CORE / package).rglob("*.py") if (CORE / package).is_dir() else [CORE / package]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
    return found


def test_pipelines_never_import_promotion() -> None:
    # promotion reads pipeline specs (their gates); the reverse would close a cycle
    bad = {f"{f}: {m}" for f, m in _imports("pipelines") if m.startswith("workbench.promotion")}
    assert not bad


def test_core_imports_no_ui_or_server_framework() -> None:
    banned = ("panel", "bokeh", "tornado", "jupyter_server")
    bad = {f"{f}: {m}" for f, m in _imports(".") if m.split(".")[0] in banned}
    assert not bad
