"""A real jupyter_server (pytest-jupyter) with workbench-lab loaded, on this test's store.

Users are told apart by their token, as JupyterHub tells them apart: `alice-token` is alice,
`bob-token` is bob (four-eyes needs two people); the server's own token is alice too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp...) for these tests only: imported, not named
# in pytest_plugins, which pytest takes from the top conftest alone and would then apply (with
# its autouse loop and ServerApp cleanup) to every test of the suite
from pytest_jupyter.jupyter_core import *  # noqa: F403
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.extension.identities import NamedTokens


class DenyWorkbench(Authorizer):
    """Allows everything but workbench's own resources."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not resource.startswith("workbench:")


@pytest.fixture
def lab_root(tmp_path: Path) -> Path:
    root = tmp_path / "root_dir"  # pytest-jupyter's jp_root_dir
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def jp_root_dir(lab_root: Path) -> Path:
    return lab_root


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"workbench_lab": True},
                          "identity_provider_class": NamedTokens}}


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"token {name}-token"}


def notebook(path: Path, parameters: str | None, body: str = "print(rows * scale)") -> Path:
    """A small notebook; `parameters` is the source of its tagged cell (None: untagged)."""
    cells = []
    if parameters is not None:
        cells.append({"cell_type": "code", "metadata": {"tags": ["parameters"]},
                      "source": parameters, "outputs": [], "execution_count": None})
    cells.append({"cell_type": "code", "metadata": {}, "source": body, "outputs": [],
                  "execution_count": None})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}))
    return path
