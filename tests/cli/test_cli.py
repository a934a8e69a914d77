"""The `workbench` command as a user runs it: a real process, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import on_cluster
from tests.stores import seed_new_store


def workbench(*args: str, home: Path, env: dict[str, str] | None = None,
              timeout: float = 300, cwd: Path | None = None,
              seed: bool = True) -> subprocess.CompletedProcess[str]:
    """The real `workbench` command with WORKBENCH_HOME=`home`; its store, if `home` has none
    yet, starts as a copy of a new one (`seed=False`: the command must make it, or not)."""
    if seed:
        seed_new_store(home)
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER")}
    full_env.update({"WORKBENCH_HOME": str(home), **(env or {})})
    exe = Path(sys.executable).with_name("workbench")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=cwd)


# Commands that run on a cluster use the session's (WORKBENCH_SCHEDULER): a local cluster's
# start is the quick start's test (tests/notebooks) and the project journey's (tests/project).
def test_train_demo_json_and_runs_listing(tmp_path: Path, dask_client: Any) -> None:
    done = workbench("train", "--demo", "--rows", "1500", "--epochs", "2", "--register", "cli",
                     "--json", home=tmp_path, env=on_cluster(dask_client))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert out["status"] == "FINISHED"
    assert out["model_uri"].startswith("models:/")
    assert set(out["metrics"]) >= {"val_loss", "val_auc"}
    assert out["registered"] == {"name": "cli", "version": 1}

    listed = workbench("runs", "--json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["runs"]
    assert row["run_id"] == out["run_id"] and row["status"] == "FINISHED"

    table = workbench("runs", home=tmp_path)
    assert out["run_id"] in table.stdout


def test_sweep_demo_json_lists_every_trial(tmp_path: Path, dask_client: Any) -> None:
    done = workbench("sweep", "--demo", "--rows", "1500", "--epochs", "1",
                     "--space", "lr=0.003,0.03", "--json", home=tmp_path,
                     env=on_cluster(dask_client))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["trials"]) == 2 and out["failed"] == 0
    assert all({"run_id", "model_uri", "metrics"} <= set(t) for t in out["trials"])
    assert out["best"]["metrics"]["val_loss"] == min(t["metrics"]["val_loss"]
                                                     for t in out["trials"])


def test_bad_param_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    done = workbench("train", "--demo", "--rows", "500", "-p", "epoch=2", home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip().splitlines()[-1]]  # exactly one line
    assert done.stderr.startswith("error: unknown parameter 'epoch'")


def test_replay_metrics_of_a_file_that_is_not_one_is_one_line_and_writes_nothing(
        tmp_path: Path) -> None:
    from mlflow import MlflowClient

    bad = tmp_path / "0123456789abcdef0123456789abcdef.jsonl"
    bad.write_text('{"key": "loss", "value": 1.0, "timestamp": 1, "step": 0}\nnot json\n')
    done = workbench("replay-metrics", str(bad), home=tmp_path / "wb")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {bad} is not a file of unwritten metrics (Expecting value: line 1 column 1 "
        "(char 0))"]
    store = MlflowClient(f"sqlite:///{tmp_path / 'wb' / 'mlflow.db'}")
    assert not store.search_runs([e.experiment_id for e in store.search_experiments()])
    missing = workbench("replay-metrics", str(tmp_path / "gone.jsonl"), home=tmp_path / "wb")
    assert missing.returncode == 1 and "is not a file of unwritten metrics" in missing.stderr


def test_unreachable_local_scheduler_is_one_line_and_leaves_no_run(tmp_path: Path) -> None:
    done = workbench("train", "--demo", "--rows", "500", home=tmp_path,
                     env={"WORKBENCH_SCHEDULER": "tcp://127.0.0.1:9"}, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the dask scheduler at tcp://127.0.0.1:9")
    listed = workbench("runs", "--json", home=tmp_path)
    assert json.loads(listed.stdout)["runs"] == []


def test_unreachable_tracking_server(tmp_path: Path) -> None:
    done = workbench("runs", home=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach the MLflow tracking server")


def test_doctor_reports_what_it_found(tmp_path: Path) -> None:
    done = workbench("doctor", "--json", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    checks = {f["check"]: f for f in report["findings"]}
    assert report["ok"] is True
    assert {"python", "torch", "mlflow", "dask", "gpus", "cluster", "tracking",
            "artifacts"} <= set(checks)
    assert str(tmp_path) in checks["tracking"]["detail"]

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    inside = workbench("doctor", home=tmp_path, cwd=repo, env={"COLUMNS": "300"})
    assert "no pipelines/, .workbench/ or [tool.workbench] on the way up" in inside.stdout

    broken = workbench("doctor", home=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert broken.returncode == 1
    assert "FAIL" in broken.stdout and "fix:" in broken.stdout


@pytest.mark.parametrize("command", ["", "train", "sweep", "runs", "doctor", "demo"])
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    done = workbench(*([command] if command else []), "--help", home=tmp_path, timeout=30)
    assert done.returncode == 0 and "Usage:" in done.stdout


def test_import_workbench_is_fast_and_light() -> None:
    code = ("import sys, workbench; heavy = {'torch', 'mlflow', 'dask', 'distributed', 'pandas'}"
            " & set(sys.modules); print(sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]"
