"""Pipelines, schedulers and monitors run in temporary projects and homes: nothing they do may
land in the repository (an `mlruns/` from a client without a store, a `.workbench/`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def _stray() -> set[str] | None:
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--ignored",
                                 "--untracked-files=all"], capture_output=True, text=True,
                                timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout: nothing to compare
    return {line[3:] for line in listed.splitlines() if line[:2] in ("??", "!!")
            and not any(part in TOOLS for part in Path(line[3:]).parts)
            and not line[3:].startswith(".venv")}


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_in_the_repository() -> Iterator[None]:
    before = _stray()
    yield
    after = _stray()
    if before is not None and after is not None:
        left = sorted(after - before)
        assert not left, f"tests/pipelines left files in the repository: {left}"
