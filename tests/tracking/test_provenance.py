"""Where a run came from: the notebook path, git state and the environment lock."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# -- the user's code: its file, its hash and its project's git state ------------------------
def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _repo(path: Path, files: dict[str, str]) -> str:
    """A git repository at `path` with `files` committed; its HEAD."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q")
    for name, text in files.items():
        (path / name).write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "init")
    return _git(path, "rev-parse", "HEAD")


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"user_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKBENCH_NOTEBOOK", "WORKBENCH_NOTEBOOK_SHA256", "JPY_SESSION_NAME",
                 "WORKBENCH_PROJECT"):
        monkeypatch.delenv(name, raising=False)


def test_a_module_function_names_its_file_and_its_own_project(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_launcher(monkeypatch)
    project = tmp_path / "project"
    head = _repo(project, {"bike_model.py": "def fit(ctx):\n    return None\n"})
    elsewhere = tmp_path / "elsewhere"
    _repo(elsewhere, {"other.txt": "x"})
    monkeypatch.chdir(elsewhere)  # the project is found from the function, not the cwd
    module_file = project / "bike_model.py"
    fit = _load(module_file).fit

    tags = provenance.run_tags(3, fit)
    assert tags["workbench.source"] == tags["mlflow.source.name"] == str(module_file)
    assert tags["workbench.source.sha256"] == hashlib.sha256(module_file.read_bytes()).hexdigest()
    assert tags["mlflow.source.git.commit"] == head
    assert tags["workbench.git.dirty"] == "false" and "workbench.git.dirty_files" not in tags

    module_file.write_text("def fit(ctx):\n    return 1\n")
    tags = provenance.run_tags(3, fit)
    assert tags["workbench.git.dirty"] == "true"
    assert tags["workbench.git.dirty_files"] == "bike_model.py"
    assert tags["workbench.source.sha256"] == hashlib.sha256(module_file.read_bytes()).hexdigest()


def test_a_source_file_git_does_not_track_makes_the_run_dirty(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_launcher(monkeypatch)
    head = _repo(tmp_path / "project", {"README.md": "hi"})
    new_file = tmp_path / "project" / "fresh.py"
    new_file.write_text("def fit(ctx):\n    return None\n")
    tags = provenance.run_tags(0, _load(new_file).fit)
    assert tags["mlflow.source.git.commit"] == head  # its code is in no commit
    assert tags["workbench.git.dirty"] == "true"
    assert tags["workbench.git.dirty_files"] == "fresh.py (untracked)"


def test_the_dirty_list_is_capped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_launcher(monkeypatch)
    project = tmp_path / "project"
    _repo(project, {f"m{i:02}.py": "" for i in range(14)})
    for i in range(14):
        (project / f"m{i:02}.py").write_text("changed = True\n")
    monkeypatch.chdir(project)  # no function: the project root's state
    tags = provenance.run_tags(0)
    listed = tags["workbench.git.dirty_files"]
    assert listed.startswith("m00.py, m01.py, ") and listed.endswith("m09.py (+4 more)")


def _notebook_cell_function(cell_file: str) -> Any:
    """`fit` as a Jupyter cell defines it: in `__main__`, compiled under the kernel's temp name."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile("def fit(ctx):\n    return None\n", cell_file, "exec"), namespace)
    return namespace["fit"]


def test_saved_outputs_neither_dirty_a_notebook_nor_change_its_identity(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nbformat

    _no_launcher(monkeypatch)
    project = tmp_path / "project"
    _repo(project, {"README.md": "hi"})
    notebook = project / "notebooks" / "pilot.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Pilot"),
                                         nbformat.v4.new_code_cell("rows = 10\nrows")])
    nbformat.write(nb, notebook)
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "pilot")
    head = _git(project, "rev-parse", "HEAD")
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # a Lab kernel of this notebook
    monkeypatch.setattr("sys.argv", ["/venv/lib/ipykernel_launcher.py", "-f", "kernel.json"])
    fit = _notebook_cell_function(str(tmp_path / "ipykernel_4242" / "3141.py"))

    clean = provenance.run_tags(0, fit)
    assert clean["workbench.source"] == clean["workbench.notebook"] == str(notebook)
    assert clean["mlflow.source.type"] == "NOTEBOOK"
    assert (clean["mlflow.source.git.commit"], clean["workbench.git.dirty"]) == (head, "false")

    # Run in Lab and autosaved: outputs, execution counts and metadata, not a line of code.
    code = nb.cells[1]
    code.execution_count = 1
    code.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "10"},
                                           execution_count=1)]
    code.metadata["execution"] = {"iopub.execute_input": "2026-12-01T14:00:00Z"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, notebook)
    assert "M notebooks/pilot.ipynb" in _git(project, "status", "--porcelain")
    ran = provenance.run_tags(0, fit)
    assert ran["workbench.git.dirty"] == "false" and "workbench.git.dirty_files" not in ran
    assert ran["workbench.source.sha256"] == clean["workbench.source.sha256"]
    assert ran["workbench.notebook.sha256"] != clean["workbench.notebook.sha256"]  # file bytes

    code.source = "rows = 20\nrows"  # now the code itself changed
    nbformat.write(nb, notebook)
    edited = provenance.run_tags(0, fit)
    assert edited["workbench.git.dirty"] == "true"
    assert edited["workbench.git.dirty_files"] == "notebooks/pilot.ipynb"
    assert edited["workbench.source.sha256"] != clean["workbench.source.sha256"]


def test_an_installed_command_is_never_the_source(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    _no_launcher(monkeypatch)
    script = Path(sys.executable).with_name("workbench")
    monkeypatch.setattr("sys.argv", [str(script), "train", "bike_model:fit"])
    assert provenance.notebook_path() is None
    tags = provenance.run_tags(0, _load(_write(tmp_path / "bike_model.py")).fit)
    assert tags["workbench.source"] == str(tmp_path / "bike_model.py")
    assert "workbench.notebook" not in tags


def _write(path: Path) -> Path:
    path.write_text("def fit(ctx):\n    return None\n")
    return path


INLINE_FIT = """
import workbench as wb

def fit(ctx):
    ctx.log_metrics({"loss": 1.0}, step=0)

print("run_id=" + wb.train(fit, experiment="inline", progress=False).result(timeout=240).run_id)
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", ["python -c", "script"])
def test_inline_and_script_runs_record_their_own_code(
        how: str, tracking: Any, dask_client: Any, wb_home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    head = _repo(project, {"README.md": "hi"})
    script = project / "train.py"
    script.write_text(INLINE_FIT)  # untracked: a script run is dirty
    args = ["-c", INLINE_FIT] if how == "python -c" else [str(script)]
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("WORKBENCH_NOTEBOOK", "JPY_SESSION_NAME", "WORKBENCH_PROJECT")},
           "WORKBENCH_HOME": str(wb_home), "WORKBENCH_SCHEDULER": dask_client.scheduler.address}
    done = subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1].removeprefix("run_id=")
    tags = tracking.get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == head
    if how == "python -c":
        assert tags["workbench.source"] == tags["mlflow.source.name"] == "<command line>"
        assert tags["workbench.source.sha256"] == hashlib.sha256(INLINE_FIT.encode()).hexdigest()
        assert tags["workbench.git.dirty"] == "false"  # the code is on the command line
    else:
        assert tags["workbench.source"] == tags["workbench.notebook"] == str(script)
        assert tags["workbench.source.sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
        assert tags["workbench.git.dirty_files"] == "train.py (untracked)"
