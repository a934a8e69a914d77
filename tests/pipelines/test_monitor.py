"""Drift-triggered retraining: repeated drift starts exactly one retraining per cooldown."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench
from tests.helpers import on_cluster
from tests.stores import GATE_WAIT, Store, finish, release, spawn
from workbench.errors import ConfigError, PipelineFailed
from workbench.tracking.store import tracking_client

UTC = datetime.UTC


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    wb.demo.make_dataset(3_000, seed=0).to_parquet(root / "train.parquet")
    wb.demo.make_dataset(3_000, seed=1).to_parquet(root / "calm.parquet")
    wb.demo.make_dataset(3_000, seed=2, covariate_drift=0.8).to_parquet(root / "moved.parquet")
    (root / "steps.py").write_text(
        "import pathlib\n"
        "def retrain(drift_data, drift_share):\n"
        "    with open('retrained.txt', 'a') as out:\n"
        "        out.write(f'{pathlib.Path(drift_data).name} {drift_share:.2f}\\n')\n"
        "    return {'drift_share_seen': drift_share}\n")
    (root / "pipelines" / "retrain.yaml").write_text(
        "name: retrain\nmodel: churn\n"
        "params:\n  drift_data: {type: str, default: ''}\n"
        "  drift_share: {type: float, default: 0.0}\n"
        "steps:\n- name: retrain\n  function: steps:retrain\n"
        "drift:\n  reference: train.parquet\n  threshold: 0.3\n  cooldown_hours: 24\n")
    return root


def test_repeated_drift_triggers_exactly_one_retraining(tracking: MlflowClient,
                                                         project: Path) -> None:
    calm = wb.monitor("churn", project / "calm.parquet", root=project)
    assert not calm.triggered and "below the threshold" in calm.reason
    outcomes = [wb.monitor("churn", project / "moved.parquet", root=project) for _ in range(3)]
    assert [o.triggered for o in outcomes] == [True, False, False]
    assert outcomes[0].pipeline_status == "FINISHED" and outcomes[0].share >= 0.3
    assert "cooldown" in outcomes[1].reason
    # this retraining step logs no model run, so there is nothing to propose for promotion
    assert outcomes[0].promotion == {"action": "none", "detail": (
        "the pipeline run logged no model in a run of its own (train with wb.train, or tag "
        "the run workbench.pipeline_run)")}
    lines = (project / "retrained.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moved.parquet ")
    history = wb.drift_history("churn")
    assert list(history["drifted"]) == [calm.drifted, True, True, True]
    check = tracking.get_run(outcomes[0].check_run_id)
    assert check.data.tags["workbench.triggered_run"] == outcomes[0].pipeline_run_id


def test_the_drift_reads_a_dashboard_uses(tracking: MlflowClient, project: Path) -> None:
    """check_drift logs a check and never retrains; the policy, the logged result and report,
    and the retrainings read back as the drift page shows them."""
    assert wb.drift_models() == [] and wb.drift_retrainings("churn") == []
    looked = wb.check_drift("churn", project / "moved.parquet", root=project)
    assert not looked.triggered and looked.share >= 0.3
    assert looked.reason.endswith("checked only, no retraining started")
    assert not (project / "retrained.txt").exists() and wb.drift_retrainings("churn") == []
    retrained = wb.monitor("churn", project / "moved.parquet", root=project)
    assert retrained.triggered
    assert wb.drift_models() == ["churn"]
    [newest] = wb.drift_history("churn", newest=1)["run_id"]
    assert newest == retrained.check_run_id
    policy = wb.drift_policy("churn", root=project)
    assert (policy.threshold, policy.cooldown_hours) == (0.3, 24)
    assert wb.drift_policy("no-pipeline", root=project).threshold == 0.5  # the default
    [record] = wb.drift_retrainings("churn")
    assert record["state"] == "finished"
    assert record["pipeline_run_id"] == retrained.pipeline_run_id
    assert record["check_run_id"] == retrained.check_run_id
    stored = wb.drift_result(looked.check_run_id)
    assert stored["share"] == looked.share and "income" in stored["columns"]
    assert "<html" in wb.drift_report(looked.check_run_id).lower()
    not_a_check = tracking.create_run(tracking.get_experiment_by_name(
        "workbench-monitoring").experiment_id).info.run_id
    with pytest.raises(ConfigError, match="holds no drift check"):
        wb.drift_result(not_a_check)


def test_cli_monitor_and_a_model_no_pipeline_produces(project: Path, tmp_path: Path,
                                                      dask_client: Any) -> None:
    home = tmp_path / "wb"
    done = workbench("monitor", "churn", "--data", "moved.parquet", "--json", home=home,
                     cwd=project, env=on_cluster(dask_client))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["triggered"] is True
    assert out["columns"][:3] == ["age", "income", "tenure"] and out["left_out"] == {}
    again = workbench("monitor", "churn", "--data", "moved.parquet", home=home, cwd=project,
                      env=on_cluster(dask_client))
    assert again.returncode == 0 and "cooldown" in again.stdout
    with pytest.raises(ConfigError, match=r"no pipeline .* produces model 'other'"):
        wb.monitor("other", project / "moved.parquet", root=project)


def test_cooldown_is_a_rolling_window_not_a_calendar_bucket(tracking: MlflowClient,
                                                            project: Path) -> None:
    """Drift at 23:59 and again at 00:01 is one storm (a bucket per day would retrain twice);
    24 h after the first retraining started, the window is open again."""
    moved = project / "moved.parquet"
    first = datetime.datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
    at = [first, first + datetime.timedelta(minutes=2), first + datetime.timedelta(hours=23),
          first + datetime.timedelta(hours=24, minutes=1)]
    outcomes = [wb.monitor("churn", moved, root=project, now=t) for t in at]
    assert [o.triggered for o in outcomes] == [True, False, False, True]
    assert outcomes[1].reason.startswith("data_drift fired (")
    assert outcomes[1].reason.endswith("; retraining already started within the 24 h cooldown "
                                       "(at 2026-11-20T23:59:00+00:00; next after "
                                       "2026-11-21T23:59:00+00:00)")
    assert len((project / "retrained.txt").read_text().splitlines()) == 2


def own_model(store: Store, project: Path) -> str:
    """A model name of this test's own: the server store is shared by the session."""
    model = store.unique("churn")
    spec = project / "pipelines" / "retrain.yaml"
    spec.write_text(spec.read_text().replace("model: churn", f"model: {model}"))
    return model


def test_a_failed_retraining_leaves_the_window_open(store: Store, project: Path,
                                                   dask_client: Any) -> None:
    model = own_model(store, project)
    (project / "steps.py").write_text(
        "import pathlib\n"
        "def retrain(drift_data, drift_share):\n"
        "    flag = pathlib.Path('fail-next')\n"
        "    if flag.exists():\n"
        "        flag.unlink()\n"
        "        raise RuntimeError('out of memory')\n"
        "    with open('retrained.txt', 'a') as out:\n"
        "        out.write('ok\\n')\n")
    (project / "fail-next").write_text("")
    moved = project / "moved.parquet"
    with pytest.raises(PipelineFailed, match="RuntimeError: out of memory"):
        wb.monitor(model, moved, root=project)
    retried = wb.monitor(model, moved, root=project)  # at once: the failure used nothing up
    assert retried.triggered and retried.pipeline_status == "FINISHED"
    assert not wb.monitor(model, moved, root=project).triggered  # this one did
    assert (project / "retrained.txt").read_text() == "ok\n"
    from workbench.retraining_window import EXPERIMENT

    records = tracking_client().search_runs(
        [tracking_client().get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string=f"tags.`workbench.model` = '{model}'", order_by=["attributes.start_time"])
    assert [(r.info.status, r.data.tags["workbench.retraining.state"]) for r in records] == [
        ("FAILED", "failed"), ("FINISHED", "finished")]
    assert records[0].data.tags["workbench.error"].endswith("RuntimeError: out of memory")


STORM = GATE_WAIT + """
import json
import workbench as wb
from workbench.tracking.store import tracking_client
tracking_client()  # connected before the gate: the race is the claim
outcome = wb.monitor(sys.argv[4], sys.argv[3], root=sys.argv[2])
print(json.dumps({"triggered": outcome.triggered, "reason": outcome.reason}))
"""


def test_two_monitors_racing_one_drift_storm_start_one_retraining(
        store: Store, project: Path, dask_client: Any) -> None:
    model = own_model(store, project)
    (project / "steps.py").write_text(
        "import os, time\n"
        "def retrain(drift_data, drift_share):\n"
        "    time.sleep(2)\n"
        "    with open('retrained.txt', 'a') as out:\n"
        "        out.write(f'{os.getpid()}\\n')\n")
    gate = store.tmp / "go"
    monitors = [spawn(STORM, {**store.client_env(f"host{i}"),
                              "WORKBENCH_SCHEDULER": dask_client.scheduler.address},
                      args=[str(gate), str(project), str(project / "moved.parquet"), model])
                for i in range(2)]
    time.sleep(4)
    release(gate)
    results = [finish(m) for m in monitors]
    assert all(code == 0 for code, _, _ in results), results
    outcomes = [json.loads(out) for _, out, _ in results]
    assert sorted(o["triggered"] for o in outcomes) == [False, True], outcomes
    [held_off] = [o for o in outcomes if not o["triggered"]]
    assert "cooldown" in held_off["reason"]
    assert len((project / "retrained.txt").read_text().splitlines()) == 1


def test_cli_monitor_failure_is_one_error_line(project: Path, tmp_path: Path,
                                               dask_client: Any) -> None:
    (project / "steps.py").write_text(
        "def retrain(drift_data, drift_share):\n    raise RuntimeError('no GPU')\n")
    done = workbench("monitor", "churn", "--data", "moved.parquet", home=tmp_path / "wb",
                     cwd=project, env=on_cluster(dask_client))
    assert done.returncode == 1
    # the cluster's own `workbench:` notes (its dashboard link) are not failures
    err = "\n".join(line for line in done.stderr.strip().splitlines()
                    if not line.startswith("workbench: "))
    assert err.splitlines() == [err], done.stderr
    assert err.startswith("error: pipeline retrain failed (run ")
    assert err.endswith("step retrain failed: RuntimeError: no GPU")


@pytest.fixture
def bike_project(tmp_path: Path) -> Path:
    """A project watching its bike-count model: 2011 is the training data, 2012 arrives."""
    from tests.promotion.bike import bike

    root = tmp_path / "bike-project"
    (root / "pipelines").mkdir(parents=True)
    frame = bike()
    frame[frame["year"] == 0].to_csv(root / "bike_2011.csv", index=False)
    frame[frame["year"] == 1].to_csv(root / "bike_2012.csv", index=False)
    (root / "steps.py").write_text("def retrain():\n    return {}\n")
    _bike_spec(root, "")
    return root


def _bike_spec(root: Path, drift: str) -> None:
    (root / "pipelines" / "bike.yaml").write_text(
        "name: bike\nmodel: bike\ntarget: count\n"
        "steps:\n- name: retrain\n  function: steps:retrain\n"
        f"drift:\n  reference: bike_2011.csv\n  threshold: 1.0\n{drift}")


def test_monitor_counts_only_the_champions_features(tracking: MlflowClient,
                                                    bike_project: Path) -> None:
    """On the bike data every check drifted through the row id, the date, the year and the
    count; the champion's signature names its inputs, and only those count."""
    from tests.promotion.bike import FEATURES, NOT_FEATURES, split, trained_run

    naive = wb.drift(bike_project / "bike_2011.csv", bike_project / "bike_2012.csv")
    assert {"year", "count"} <= set(naive.drifted_columns)  # no model: no target is known
    assert naive.skipped["instant"] == "a row id (unique in every row)"
    assert naive.skipped["dateday"] == "a date or timestamp (text holding dates)"
    frame = pd.read_csv(bike_project / "bike_2011.csv")
    wb.promote("bike", run_id=trained_run(*split(frame)), approver="ana", reason="pilot",
               root=bike_project)
    outcome = wb.monitor("bike", bike_project / "bike_2012.csv", root=bike_project)
    assert outcome.columns == FEATURES
    assert outcome.left_out == {c: "not an input of bike v1" for c in NOT_FEATURES}
    checked = wb.drift(bike_project / "bike_2011.csv", bike_project / "bike_2012.csv",
                       columns=FEATURES)
    assert outcome.share == pytest.approx(checked.share) and outcome.share < naive.share
    logged = json.loads(Path(tracking.download_artifacts(outcome.check_run_id,
                                                         "drift/result.json")).read_text())
    assert sorted(logged["columns"]) == sorted(FEATURES)
    assert logged["skipped"]["instant"] == "not a feature: not an input of bike v1"


def test_without_a_signature_ids_dates_and_the_target_do_not_count(
        tracking: MlflowClient, bike_project: Path) -> None:
    from tests.promotion.bike import FEATURES
    from tests.promotion.runs import model_run

    _bike_spec(bike_project, "  exclude: [year, casual, registered]\n")
    wb.promote("bike", run_id=model_run(), approver="ana", reason="a model with no signature")
    outcome = wb.monitor("bike", bike_project / "bike_2012.csv", root=bike_project)
    assert outcome.columns == FEATURES
    assert outcome.left_out == {
        "instant": "a row id (unique in every row)",
        "dateday": "a date or timestamp (text holding dates)",
        "year": "excluded by drift.exclude", "casual": "excluded by drift.exclude",
        "registered": "excluded by drift.exclude", "count": "the target"}
    _bike_spec(bike_project, "  columns: [temp, humidity, count]\n")
    named = wb.monitor("bike", bike_project / "bike_2012.csv", root=bike_project)
    assert named.columns == ["temp", "humidity"] and named.left_out["count"] == "the target"
    _bike_spec(bike_project, "  exclude: [yr]\n")
    with pytest.raises(ConfigError, match=r"drift.columns/exclude name yr, which neither the "
                                          r"reference nor the current data has"):
        wb.monitor("bike", bike_project / "bike_2012.csv", root=bike_project)
