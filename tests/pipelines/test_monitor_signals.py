"""Monitoring that sees what matters: a model trained on engineered (one-hot) features is watched
on the raw columns production data has, its predictions and its metric once labels are known;
a label shift that barely moves the inputs is caught by prediction drift and performance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench
from tests.governance.test_alerts import Receiver, _config, _no_proxy, receiver  # noqa: F401
from tests.helpers import on_cluster
from workbench.errors import ConfigError
from workbench.tracking.store import ensure_experiment

CARRIERS = ["AA", "DL", "UA", "9E", "B6"]
NOISE = [f"n{i}" for i in range(5)]
FEATURES = (
    "import pandas as pd\n"
    f"CARRIERS = {CARRIERS!r}\n"
    "def featurize(frame):\n"
    "    out = pd.DataFrame({f'carrier_{c}': (frame['carrier'] == c).astype(float)\n"
    "                        for c in CARRIERS})\n"
    "    out['hour'] = frame['hour'].astype(float)\n"
    "    out['distance'] = frame['distance'].fillna(800.0)  # cancelled: the median trip\n"
    "    return out\n")
STEPS = (
    "import json, pathlib\n"
    "def retrain(drift_data, C, monitor_signals):\n"
    "    seen = {'drift_data': drift_data, 'exists': pathlib.Path(drift_data).is_file(),\n"
    "            'C': C, 'signals': monitor_signals}\n"
    "    pathlib.Path(__file__).with_name('retrained.json').write_text(json.dumps(seen))\n")
SPEC = (
    "name: flights\nmodel: flights\ntarget: delayed\n"
    "params:\n"
    "  drift_data: {type: str, default: ''}\n"
    "  monitor_signals: {type: str, default: ''}\n"
    "  C: {type: float, default: 1.0}\n"
    "steps:\n- name: retrain\n  function: steps:retrain\n"
    "drift:\n  reference: data/train.csv\n  threshold: 0.5\n  cooldown_hours: 0\n"
    "monitor:\n  features: features:featurize\n  key: flight_id\n"
    "  performance: {metric: auc, min: 0.65}\n")


def flights(n: int, seed: int, *, later: bool = False) -> pd.DataFrame:
    """Raw flight rows: an id, a timestamp, a carrier, the hour, the distance, five columns of
    noise and `delayed`. `later`: evening flights grow common (only `hour` moves) and delays
    stop depending on the hour: the inputs barely move, the labels do."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(14, 23, n) if later else rng.integers(5, 23, n)
    carrier = rng.choice(CARRIERS, n)
    distance = rng.gamma(2.0, 400.0, n)
    logit = (0.0 if later else 0.35 * (hour - 14)) + 0.9 * (carrier == "9E") \
        - 0.0004 * distance - (0.3 if later else 0.0)
    start = pd.Timestamp("2013-07-01" if later else "2013-01-01")
    frame = pd.DataFrame({
        "flight_id": np.arange(n) + seed * 1_000_000,
        "departed": (start + pd.to_timedelta(rng.integers(0, 180 * 24, n), unit="h"))
        .strftime("%Y-%m-%dT%H:%M:%S"),
        "carrier": carrier, "hour": hour, "distance": distance.round(1),
        **{c: rng.normal(0, 1, n).round(3) for c in NOISE},
        "delayed": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})
    frame.loc[rng.random(n) < 0.02, "distance"] = np.nan  # cancelled flights
    return frame


@pytest.fixture
def flights_project(tmp_path: Path, tracking: MlflowClient) -> Path:
    """A project whose champion is a logistic regression on one-hot carriers, trained with
    C=0.3, the spec watching predictions and AUC."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path / "flights"
    (root / "pipelines").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "notebooks").mkdir()
    (root / "features.py").write_text(FEATURES)
    (root / "steps.py").write_text(STEPS)
    (root / "pipelines" / "flights.yaml").write_text(SPEC)
    train = flights(4_000, seed=1)
    train.to_csv(root / "data" / "train.csv", index=False)
    flights(3_000, seed=2).to_csv(root / "data" / "calm.csv", index=False)
    flights(3_000, seed=3, later=True).to_csv(root / "data" / "shifted.csv", index=False)
    namespace: dict[str, Any] = {}
    exec(FEATURES, namespace)  # the project's own feature step, as a notebook would run it
    inputs = namespace["featurize"](train)
    model = LogisticRegression(C=0.3, max_iter=500).fit(inputs, train["delayed"])
    with mlflow.start_run(experiment_id=ensure_experiment(tracking, "flights-pilot")) as run:
        mlflow.log_param("C", 0.3)
        mlflow.log_metric("val_auc", 0.74)
        mlflow.sklearn.log_model(model, name="model", input_example=inputs.head(3),
                                 pyfunc_predict_fn="predict_proba",
                                 pip_requirements=["scikit-learn"])
    wb.promote("flights", run_id=run.info.run_id, approver="ana", reason="pilot", root=root)
    return root


def _signals(outcome: Any) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in outcome.signals}


def test_engineered_model_is_watched_on_raw_columns_inputs_and_predictions(
        flights_project: Path) -> None:
    calm = flights_project / "data" / "calm.csv"
    outcome = wb.monitor("flights", calm, root=flights_project)
    assert sorted(outcome.columns) == sorted(["carrier", "hour", "distance", *NOISE])
    assert outcome.left_out["flight_id"] == "a row id (unique in every row)"
    assert outcome.left_out["departed"] == "a date or timestamp (text holding dates)"
    assert outcome.left_out["delayed"] == "the target"
    signals = _signals(outcome)
    assert set(signals) == {"data_drift", "input_drift", "prediction_drift", "performance"}
    assert outcome.fired == [] and not outcome.triggered and not outcome.drifted
    assert signals["performance"]["value"] > 0.65  # the champion still ranks delays well
    assert "reference 0.74" in signals["performance"]["detail"]  # its logged val_auc
    assert not (flights_project / "retrained.json").exists()


def test_a_label_shift_fires_predictions_and_performance_and_retrains_from_the_champion(
        flights_project: Path, tracking: MlflowClient, receiver: Receiver, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the hour moves (1 raw column of 8: no data drift), but the champion's predictions
    move with it and its AUC falls: both fire, the team hears of it, and the retraining starts
    from C=0.3."""
    from workbench.governance import alerts

    monkeypatch.setenv("WORKBENCH_ALERTS", str(_config(
        tmp_path, {"kind": "webhook", "url": receiver.url, "events": ["monitor"]})))
    outcome = wb.monitor("flights", flights_project / "data" / "shifted.csv",
                         root=flights_project)
    signals = _signals(outcome)
    assert not signals["data_drift"]["fired"] and outcome.share < 0.5 and not outcome.drifted
    assert signals["prediction_drift"]["fired"], signals["prediction_drift"]
    assert signals["performance"]["fired"] and signals["performance"]["value"] < 0.65
    assert outcome.fired == ["prediction_drift", "performance"] and outcome.triggered
    assert outcome.retrain_params == {"C": 0.3}
    seen = json.loads((flights_project / "retrained.json").read_text())
    assert seen == {"drift_data": str(flights_project / "data" / "shifted.csv"), "exists": True,
                    "C": 0.3, "signals": "prediction_drift,performance"}
    history = wb.drift_history("flights")
    assert history["fired"].tolist() == ["prediction_drift,performance"]
    assert history.loc[0, "signal.performance.fired"] == 1.0
    logged = json.loads(Path(tracking.download_artifacts(
        outcome.check_run_id, "monitor/signals.json")).read_text())
    assert [s["name"] for s in logged if s["fired"]] == outcome.fired
    assert alerts.dispatcher().flush(30)
    [event] = [json.loads(hit.body) for hit in receiver.hits]
    assert event["event"] == "monitor" and event["entry"]["fired"] == outcome.fired
    assert "performance fired (auc" in event["entry"]["reason"]


def test_labels_that_arrive_later_join_by_the_key(flights_project: Path, tmp_path: Path) -> None:
    shifted = pd.read_csv(flights_project / "data" / "shifted.csv")
    unlabelled = tmp_path / "prod.csv"
    shifted.drop(columns="delayed").to_csv(unlabelled, index=False)
    first = wb.check_drift("flights", unlabelled, root=flights_project)
    assert "not checked: no labels" in _signals(first)["performance"]["detail"]
    labels = tmp_path / "labels.csv"
    shifted[["flight_id", "delayed"]].sample(frac=0.5, random_state=0).to_csv(labels, index=False)
    later = wb.check_drift("flights", unlabelled, labels=labels, root=flights_project)
    performance = _signals(later)["performance"]
    assert performance["fired"] and "1,500 labelled production rows" in performance["detail"]
    assert not later.triggered  # a look, not a trigger


def test_paths_are_resolved_where_they_were_typed(flights_project: Path, tmp_path: Path,
                                                  dask_client: Any) -> None:
    """From the root and from a subfolder, the relative path reaches the step as an absolute
    path (the pilot's notebook runs in notebooks/, where data/... is not)."""
    home = tmp_path / "home"
    done = workbench("monitor", "flights", "--data", "data/shifted.csv", "--json",
                     home=home, cwd=flights_project, env=_same_store(dask_client))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["current"] == str(flights_project / "data" / "shifted.csv") and out["triggered"]
    assert json.loads((flights_project / "retrained.json").read_text())["exists"]
    again = workbench("monitor", "flights", "--data", "../data/calm.csv", "--json",
                      home=home, cwd=flights_project / "notebooks", env=_same_store(dask_client))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["current"] == str(flights_project / "data" / "calm.csv")
    wrong = workbench("monitor", "flights", "--data", "data/shifted.csv",
                      home=home, cwd=flights_project / "notebooks", env=_same_store(dask_client))
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1] == (
        f"error: current data data/shifted.csv does not exist (looked at "
        f"{flights_project / 'notebooks' / 'data' / 'shifted.csv'}); give a path relative to "
        "where you run the command, or an absolute one")
    with pytest.raises(ConfigError, match="does not exist"):
        wb.monitor("flights", "nowhere.csv", root=flights_project)


def _same_store(dask_client: Any) -> dict[str, str]:
    """The CLI on this test's store (the fixture's WORKBENCH_HOME) and the session's cluster."""
    return {"WORKBENCH_HOME": os.environ["WORKBENCH_HOME"], **on_cluster(dask_client)}
