"""`workbench migrate --to URI`: an embedded store that has lived a pilot's life (runs with
metric histories, a nested run, artifacts, a dataset input, promotions with a history part too
large for a tag, a rollback, a pending four-eyes request) copied into the services' tracking
server (PostgreSQL behind it, basic auth in front) by the CLI, as a user runs it: killed in the
middle, then run again to the end, then once more; read back there; refused where the target
holds a different model of the same name."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest

import workbench as wb
from tests.promotion.runs import model_run

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _pilot(model: str, data: Path) -> dict[str, Any]:
    """A store's worth of history, on the embedded store of this test's WORKBENCH_HOME."""
    from mlflow.entities import Metric

    from workbench.tracking.store import tracking_client

    client = tracking_client()
    first = model_run(0.80, data=data)
    second = model_run(0.85, metrics={"val_loss": 0.3})
    third = model_run(0.90)
    with mlflow.start_run(run_name="<b>sweep</b> parent") as parent:
        client.log_batch(parent.info.run_id, metrics=[
            Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)
            for step in range(1500)])  # more than one log_batch of points
        mlflow.log_params({"lr": 0.01, "epochs": 3})
        mlflow.log_text("hello", "notes/readme.txt")
        mlflow.log_dict({"a": [1, 2]}, "deep/er/config.json")
        with mlflow.start_run(run_name="trial 0", nested=True) as child:
            mlflow.log_metric("val_auc", 0.7)
    reason = "long review: " + "the holdout shows no regression. " * 200  # > a tag: a blob
    wb.promote(model, run_id=first, approver="ana", reason=reason)
    wb.promote(model, run_id=second, approver="ana", reason="better auc")
    wb.rollback(model, approver="ana", reason="latency regressed")
    request = wb.promote(model, run_id=third, approver="ana", reason="best so far",
                         four_eyes=True)
    return {"runs": [first, second, third, parent.info.run_id, child.info.run_id],
            "parent": parent.info.run_id, "child": child.info.run_id,
            "request": request.request_id, "history": wb.history(model), "reason": reason}


def _migrate(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WORKBENCH, "migrate", "--to", env["MLFLOW_TRACKING_URI"], *args],
                          env=_cli_env(home, env), text=True, capture_output=True, timeout=600)


def _cli_env(home: Path, env: dict[str, str]) -> dict[str, str]:
    import os

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    login = {k: v for k, v in env.items() if k.startswith("MLFLOW_TRACKING_") and k !=
             "MLFLOW_TRACKING_URI"}
    return {**keep, **login, "WORKBENCH_HOME": str(home)}


def _interrupted(home: Path, env: dict[str, str]) -> str:
    """The CLI killed (SIGKILL: no cleanup) once it has copied the contents of one run."""
    child = subprocess.Popen([WORKBENCH, "migrate", "--to", env["MLFLOW_TRACKING_URI"]],
                             env=_cli_env(home, env), text=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert child.stderr is not None
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith("run 1/"):
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_migrate_copies_a_pilot_completely_resumes_and_re_runs(
        wb_home: Path, tmp_path: Path, services_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    import pandas as pd

    model = f"churn-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "train.csv"
    pd.DataFrame({"x": range(20), "y": [0, 1] * 10}).to_csv(data, index=False)
    pilot = _pilot(model, data)
    assert len(pilot["history"]) == 4 and "blobs" in pilot["history"][0]

    _interrupted(wb_home, services_env)
    cut_short = _migrate(wb_home, services_env, "--check", "--json")
    assert cut_short.returncode == 1  # the check sees what the interruption left undone
    assert any(kind["differ"] for kind in json.loads(cut_short.stdout)["kinds"].values())
    done = _migrate(wb_home, services_env, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and not report["refused"]
    kinds = report["kinds"]
    assert all(not kind["differ"] and kind["matched"] == kind["source"] for kind in
               kinds.values()), kinds
    assert kinds["runs"]["source"] >= 5 and kinds["runs"]["metric_points"] >= 1500
    assert kinds["registered_models"]["source"] >= 1 and kinds["histories"]["matched"] >= 1

    # the server holds it all, one copy of each run (the interrupted copy resumed, no twin)
    for key, value in services_env.items():
        monkeypatch.setenv(key, value)
    from workbench.tracking.migrated import copies_of
    from workbench.tracking.store import tracking_client

    server = tracking_client()
    copies = {old: copies_of(server, old) for old in pilot["runs"]}
    assert all(len(found) == 1 for found in copies.values()), copies
    parent = copies[pilot["parent"]][0]
    child = copies[pilot["child"]][0]
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id  # ids rewritten
    steps = [m.step for m in server.get_metric_history(parent.info.run_id, "loss")]
    assert sorted(steps) == list(range(1500))
    assert parent.data.params == {"lr": "0.01", "epochs": "3"}
    notes = server.download_artifacts(parent.info.run_id, "notes/readme.txt", str(tmp_path))
    assert Path(notes).read_text() == "hello"
    first = copies[pilot["runs"][0]][0]
    assert first.inputs.dataset_inputs, "the training data's record was lost"
    assert wb.history(model) == pilot["history"]  # byte for byte, the long reason read back
    assert wb.verify_history(model).ok, wb.verify_history(model)
    assert wb.champion(model) == "1"  # the rollback's champion
    dossier = wb.dossier(model, 1)
    assert dossier["approval"]["reason"] == pilot["reason"]
    assert dossier["run_id"] == first.info.run_id

    # safe to re-run: nothing new is copied and it still verifies
    again = _migrate(wb_home, services_env, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    copied = json.loads(again.stdout)["copied"]
    assert copied["runs"] == copied["metric_points"] == copied["model_versions"] == 0, copied
    assert _migrate(wb_home, services_env, "--check").returncode == 0  # compare only: all match

    # the server governs the model once adopted (not before: its history came from a client)
    with pytest.raises(wb.WorkbenchError, match=f"workbench governance adopt {model}"):
        wb.approve(pilot["request"], reason="reviewed the gates")
    adopted = wb.adopt(model, reason="moved to the team's server")
    assert adopted["entries_before"] == len(pilot["history"])
    # the pending request, made on the embedded store, is approved on the server by a login
    # other than its requester's (here the admin's)
    record = wb.approve(pilot["request"], reason="reviewed the gates")
    assert record.version == "3" and wb.champion(model) == "3"
    assert record.approver == services_env["MLFLOW_TRACKING_USERNAME"]
    assert wb.verify_history(model).why.endswith("chain intact and keyed")

    # now the server's model has moved on: migrating again refuses it, changes nothing
    before = wb.history(model)
    refused = _migrate(wb_home, services_env)
    assert refused.returncode == 1
    assert f"model {model!r}: the target already holds a different model" in refused.stdout
    assert wb.history(model) == before and wb.champion(model) == "3"
    check = _migrate(wb_home, services_env, "--check", "--json")
    assert check.returncode == 1 and not json.loads(check.stdout)["ok"]

    # the governing server refuses a point written to the ended run; a tag changed on the
    # server is a difference the check names by run and part
    with pytest.raises(mlflow.exceptions.MlflowException, match="has ended"):
        server.log_metric(child.info.run_id, "val_auc", 0.1, step=7)
    server.set_tag(child.info.run_id, "mlflow.runName", "renamed on the server")
    check = json.loads(_migrate(wb_home, services_env, "--check", "--json").stdout)
    assert f"run {pilot['child']} (trial 0): info, tags differ" in check["kinds"]["runs"]["differ"]


def test_migrate_refuses_what_it_cannot_do_in_one_line(wb_home: Path, tmp_path: Path) -> None:
    from workbench.tracking.store import tracking_client

    tracking_client()  # the embedded store exists
    same = subprocess.run([WORKBENCH, "migrate", "--to", f"sqlite:///{wb_home / 'mlflow.db'}"],
                          env=_cli_env(wb_home, {}), text=True, capture_output=True)
    assert same.returncode == 1
    assert same.stderr.strip().splitlines() == [
        f"error: --to sqlite:///{wb_home / 'mlflow.db'} is the store being migrated; name "
        "another store (the tracking server's URI)"]
    empty = tmp_path / "nothing-here"
    missing = subprocess.run([WORKBENCH, "migrate", "--to", "http://127.0.0.1:9"],
                             env=_cli_env(empty, {}), text=True, capture_output=True)
    assert missing.returncode == 1
    assert "no store to migrate at" in missing.stderr and "WORKBENCH_HOME" in missing.stderr
    assert not empty.exists()  # nothing made where nothing was


def test_migrate_waits_for_a_promotion_in_progress(wb_home: Path, tmp_path: Path) -> None:
    from workbench.promotion.registry import promotion_lock
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    target = f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"
    with promotion_lock(client, "churn"):
        held = subprocess.run([WORKBENCH, "migrate", "--to", target],
                              env=_cli_env(wb_home, {}), text=True, capture_output=True)
    assert held.returncode == 1
    assert "promotion-lock churn.promotion-lock is in progress at the source" in held.stderr
    assert not (tmp_path / "team").exists()  # refused before the target was touched
