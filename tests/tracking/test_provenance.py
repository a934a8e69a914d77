"""Where a run came from: the notebook path, git state and the environment lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workbench.tracking import provenance


def test_jupyter_session_names_the_notebook(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    notebook = tmp_path / "pilot.ipynb"
    monkeypatch.delenv("WORKBENCH_NOTEBOOK", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    monkeypatch.setattr("sys.argv", ["/venv/lib/ipykernel_launcher.py", "-f", "kernel.json"])
    assert provenance.notebook_path() == str(notebook)
    tags = provenance.run_tags(seed=4)
    assert tags["mlflow.source.name"] == str(notebook)
    assert tags["mlflow.source.type"] == "NOTEBOOK"


def test_kernel_launcher_is_never_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKBENCH_NOTEBOOK", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.argv", ["/venv/lib/ipykernel_launcher.py", "-f", "kernel.json"])
    assert provenance.notebook_path() is None


def test_explicit_notebook_wins(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("WORKBENCH_NOTEBOOK", str(tmp_path / "steps" / "train.ipynb"))
    monkeypatch.setenv("JPY_SESSION_NAME", "/elsewhere/other.ipynb")
    assert provenance.notebook_path() == str(tmp_path / "steps" / "train.ipynb")


def test_git_state_reports_commit_and_dirty_flag(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    commit, dirty = provenance.git_state(tmp_path)
    assert commit is not None and len(commit) == 40 and dirty is False
    (tmp_path / "a.txt").write_text("two")
    assert provenance.git_state(tmp_path / "a.txt") == (commit, True)
    assert provenance.git_state(tmp_path.parent / "not-a-repo-dir") == (None, None)


def test_environment_lock_pins_every_package() -> None:
    lock = provenance.environment_lock()
    lines = [line for line in lock.splitlines() if not line.startswith("#")]
    assert all("==" in line for line in lines)
    names = {line.split("==")[0].lower() for line in lines}
    assert {"torch", "mlflow", "dask", "distributed", "pandas"} <= names
    assert lock.startswith("# python 3.")
