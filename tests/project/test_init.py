"""`workbench init`: a team's own folder to its first tracked run in minutes, nothing of theirs
overwritten."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import workbench as wb
from tests.cli.test_cli import workbench
from tests.helpers import on_cluster
from workbench.project import find_project


def test_init_then_the_next_commands_give_a_tracked_run_on_the_teams_csv(
        tmp_path: Path, dask_client: Any) -> None:
    started = time.monotonic()
    root = tmp_path / "churn project"
    home = tmp_path / "home"
    done = workbench("init", str(root), "--json", home=home)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert sorted(out["written"]) == [".gitignore", "notebooks/pilot.ipynb", "pyproject.toml"]
    assert out["next"][1].startswith("workbench pipeline create --from notebooks/pilot.ipynb")
    assert find_project(root / "notebooks").reason == "holds pipelines/"
    assert ".workbench/" in (root / ".gitignore").read_text().splitlines()
    # the team's own data: a CSV whose 0/1 target has its own name
    wb.demo.make_dataset(600, seed=3).rename(columns={"churned": "left"}).to_csv(
        root / "data" / "customers.csv", index=False)
    env = {**on_cluster(dask_client), "WORKBENCH_HOME": str(root / ".workbench")}
    created = workbench("pipeline", "create", "--from", "notebooks/pilot.ipynb", "--name",
                        "pilot", "--model", "pilot", home=home, cwd=root, env=env)
    assert created.returncode == 0, created.stderr
    ran = workbench("pipeline", "run", "pilot", "-p", "train_data=../data/customers.csv",
                    "-p", "target=left", "-p", "epochs=1", "--json", home=home, cwd=root,
                    env=env)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "FINISHED"
    [trained] = [r for r in result["runs_made"] if r["model"]]
    assert trained["status"] == "FINISHED" and trained["experiment"] == "pilot"
    assert time.monotonic() - started < 300  # the five minutes, after the install


def test_init_keeps_what_a_project_already_has(tmp_path: Path) -> None:
    from workbench.project_init import init_project

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"')
    (tmp_path / ".gitignore").write_text("*.pyc")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "pilot.ipynb").write_text("{}")
    done = init_project(tmp_path)
    assert done.kept == ["notebooks/pilot.ipynb"]
    assert (tmp_path / "notebooks" / "pilot.ipynb").read_text() == "{}"
    assert (tmp_path / "pyproject.toml").read_text().startswith('[project]\nname = "mine"\n\n'
                                                                "[tool.workbench]")
    assert (tmp_path / ".gitignore").read_text().splitlines()[:3] == [
        "*.pyc", "# workbench: the embedded store and executed copies", ".workbench/"]
    again = init_project(tmp_path)
    assert again.written == [] and sorted(again.kept) == [
        ".gitignore", "notebooks/pilot.ipynb", "pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text().count("[tool.workbench]") == 1
