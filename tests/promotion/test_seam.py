"""One seam to the registry: alias moves, history, locks, model and version tags and
registration go through workbench/promotion/registry.py; the apps read the public API."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_CALLS = {
    "set_registered_model_alias", "delete_registered_model_alias", "get_model_version_by_alias",
    "set_registered_model_tag", "delete_registered_model_tag", "set_model_version_tag",
    "create_registered_model", "delete_registered_model", "create_model_version",
    "register_model", "get_registered_model", "search_model_versions",
}


def _calls(path: Path) -> set[str]:
    return {node.func.attr for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


def test_only_registry_py_talks_to_the_registry() -> None:
    found = {f"{path.name}: {call}" for path in (ROOT / "workbench" / "promotion").glob("*.py")
             if path.name != "registry.py" for call in _calls(path) & REGISTRY_CALLS}
    assert not found, "registry calls outside registry.py"


def test_apps_use_the_public_read_api() -> None:
    internal = ("workbench.promotion.registry", "workbench.promotion.ledger")
    for path in (ROOT / "apps").rglob("*.py"):
        text = path.read_text()
        assert not any(name in text for name in internal), path
        assert ".promotion-lock" not in text, path
