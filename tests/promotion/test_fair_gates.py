"""Beat the champion on the same data, and drift on the model's features, on the real bike data.

The champion is fitted on 2011; the challenger on 2011 and 2012, its holdout is 2012's. Each
run's own logged `val_rmse` is on its own holdout (2012's counts are larger, so the challenger's
looks worse); re-scored on the same 2012 holdout, the champion is far worse.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.promotion.bike import FEATURES, NOT_FEATURES, bike, fit, rmse, split, trained_run
from tests.stores import Store
from workbench.errors import ConfigError, PromotionRefused
from workbench.tracking.store import tracking_client


@pytest.fixture(scope="module")
def years() -> dict[str, pd.DataFrame]:
    frame = bike()
    train11, hold11 = split(frame[frame["year"] == 0])
    train12, hold12 = split(frame[frame["year"] == 1], seed=1)
    return {"train11": train11, "hold11": hold11, "train12": train12, "hold12": hold12,
            "both": pd.concat([train11, train12], ignore_index=True),
            "2011": frame[frame["year"] == 0], "2012": frame[frame["year"] == 1]}


def test_the_champion_is_rescored_on_the_challengers_evaluation_data(
        store: Store, years: dict[str, pd.DataFrame]) -> None:
    model = store.unique("bike")
    first = trained_run(years["train11"], years["hold11"])
    wb.promote(model, run_id=first, approver="ana", reason="2011 pilot")
    challenger = trained_run(years["both"], years["hold12"], evaluation=years["hold12"])
    client = tracking_client()
    logged = {r: client.get_run(r).data.metrics["val_rmse"] for r in (first, challenger)}
    assert logged[challenger] > logged[first] + 30  # compared as logged, it would be refused
    recorded = client.get_run(challenger).inputs.dataset_inputs[0].dataset.digest
    champion_on_2012 = rmse(fit(years["train11"]), years["hold12"])

    # the same data decides both ways: by 50 is too much to ask, by 10 passes
    with pytest.raises(PromotionRefused, match=(
            rf"beats champion on val_rmse by 50 \(rmse {logged[challenger]:.6g} vs champion v1 "
            rf"{champion_on_2012:.6g}, both scored on evaluation.parquet \(1,728 rows, digest "
            rf"{recorded}\)\)")):
        wb.promote(model, run_id=challenger, approver="ana", reason="more data",
                   beat_champion="val_rmse", margin=50)  # mode: rmse is better when lower
    record = wb.promote(model, run_id=challenger, approver="ana", reason="more data",
                        beat_champion="val_rmse", margin=10)
    inputs = record.gates[0].inputs
    assert (inputs["basis"], inputs["mode"], inputs["champion_version"]) == \
        ("re-scored rmse", "min", "1")
    assert inputs["candidate"] == pytest.approx(logged[challenger])
    assert inputs["champion"] == pytest.approx(champion_on_2012)
    assert inputs["data"] == {"source": f"runs:/{challenger}/evaluation/evaluation.parquet",
                              "digest": recorded, "rows": len(years["hold12"]),
                              "target": "count", "origin": f"evaluation input of run "
                                                           f"{challenger}"}
    rejected, promoted = [e for e in wb.history(model) if e["action"] != "promoted"
                          or e["run_id"] == challenger]
    assert rejected["action"] == "rejected"
    assert rejected["gates"][0]["inputs"]["champion"] == pytest.approx(champion_on_2012)
    assert promoted["gates"][0]["inputs"]["data"]["digest"] == recorded
    shown = wb.dossier(model, record.version)["gates"][0]
    assert shown["inputs"]["candidate"] == pytest.approx(logged[challenger])
    assert "both scored on evaluation.parquet (1,728 rows" in shown["detail"]


def _project(root: Path, gate: str) -> Path:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "pipelines" / "bike.yaml").write_text(
        "name: bike\nmodel: bike\ntarget: count\n"
        "steps:\n  - {name: train, function: 'steps:train'}\n"
        f"gates:\n  - beat_champion: {gate}\n")
    return root


def test_a_spec_declared_holdout_scores_both_models(tracking: MlflowClient, tmp_path: Path,
                                                    years: dict[str, pd.DataFrame]) -> None:
    root = _project(tmp_path / "project", "{metric: val_rmse, by: 5, data: data/holdout.parquet}")
    (root / "data").mkdir()
    years["hold12"].to_parquet(root / "data" / "holdout.parquet")
    first = trained_run(years["train11"], years["hold11"])
    assert wb.promote("bike", run_id=first, approver="ana", reason="pilot",
                      root=root).gates[0].detail == "no champion yet"
    record = wb.promote("bike", run_id=trained_run(years["both"], years["hold12"]),
                        approver="ana", reason="2012 too", root=root)
    data = record.gates[0].inputs["data"]
    assert data["origin"] == "declared in registry policy (pipelines/bike.yaml)"
    assert data["source"] == str(root / "data" / "holdout.parquet")
    assert data["rows"] == len(years["hold12"])
    # a 2011-only model logging its own 2011 holdout is still judged on the declared data
    worse = trained_run(years["2011"], years["hold11"], evaluation=years["hold11"])
    with pytest.raises(PromotionRefused, match=r"beats champion on val_rmse by 5 \(rmse 1[0-9.]+ "
                                               r"vs champion v2 [0-9.]+, both scored on "
                                               r"holdout.parquet \(1,728 rows"):
        wb.promote("bike", run_id=worse, approver="ana", reason="r", root=root)

    _project(root, "{metric: val_loss, data: data/holdout.parquet}")
    with pytest.raises(ConfigError, match=r"^beat_champion val_loss \(registry policy "
                                          r"\(pipelines/bike.yaml\)\) cannot be scored on data: "
                                          r"workbench computes rmse, mse, mae, r2, accuracy, "
                                          r"auc; name the metric"):
        wb.promote("bike", run_id=worse, approver="ana", reason="r", root=root)
    _project(root, "{metric: val_rmse, data: data/gone.parquet}")
    with pytest.raises(ConfigError, match=r"the beat_champion data .*gone.parquet "
                                          r"\(registry policy \(pipelines/bike.yaml\)\) does "
                                          r"not exist"):
        wb.promote("bike", run_id=worse, approver="ana", reason="r", root=root)
    assert wb.champion("bike") == "2"


def test_changed_evaluation_data_is_refused_and_none_falls_back_to_logged_metrics(
        tracking: MlflowClient, tmp_path: Path, years: dict[str, pd.DataFrame]) -> None:
    wb.promote("bike-path", run_id=trained_run(years["train11"], years["hold11"]),
               approver="ana", reason="pilot")
    holdout = tmp_path / "holdout.parquet"
    years["hold12"].to_parquet(holdout)
    challenger = trained_run(years["both"], years["hold12"], evaluation=holdout)
    years["hold11"].to_parquet(holdout)  # someone rewrote the file since
    with pytest.raises(ConfigError, match=rf"the evaluation data at {re.escape(str(holdout))} "
                                          rf"changed since run {challenger} \(digest [0-9a-f]+ "
                                          r"!= [0-9a-f]+\)"):
        wb.promote("bike-path", run_id=challenger, approver="ana", reason="r",
                   beat_champion="val_rmse")
    # no evaluation data at all: the logged metrics decide, and the gate says so
    unsure = trained_run(years["both"], years["hold12"])
    with pytest.raises(PromotionRefused, match=r"as logged \(no evaluation data to score both "
                                               r"on: log it in training with "
                                               r"wb.log_evaluation_data"):
        wb.promote("bike-path", run_id=unsure, approver="ana", reason="r",
                   beat_champion="val_rmse")
    gate = wb.history("bike-path")[-1]["gates"][0]["inputs"]
    assert (gate["basis"], gate["data"]) == ("logged metrics", None)


def test_the_drift_gate_compares_the_models_features(tracking: MlflowClient, tmp_path: Path,
                                                     years: dict[str, pd.DataFrame]) -> None:
    train, current = tmp_path / "bike_2011.csv", tmp_path / "bike_2012.csv"
    years["2011"].to_csv(train, index=False)
    years["2012"].to_csv(current, index=False)
    naive = wb.drift(train, current)
    assert {"year", "count"} <= set(naive.drifted_columns)  # ids and dates: never tested
    assert {"instant", "dateday"} <= set(naive.skipped)
    run = trained_run(years["train11"], years["hold11"])
    with pytest.raises(PromotionRefused):
        wb.promote("bike-drift", run_id=run, approver="ana", reason="r",
                   production_data=current, training_data=train)
    drift_gate = wb.history("bike-drift")[-1]["gates"][1]
    assert drift_gate["gate"] == "no data drift"
    inputs = drift_gate["inputs"]
    assert inputs["columns"] == FEATURES
    assert inputs["left_out"] == {c: f"not an input of the model of run {run}"
                                  for c in NOT_FEATURES}
    assert set(inputs["drifted_columns"]) <= set(FEATURES)


def test_torch_models_as_wb_train_logs_them_are_rescored(tracking: MlflowClient,
                                                         years: dict[str, pd.DataFrame]) -> None:
    """pt2 with a tensor signature: the gate feeds each model its feature columns, in order,
    as float32."""
    from tests.promotion.bike import torch_run

    first, _ = torch_run(years["train11"], years["hold11"])
    wb.promote("bike-torch", run_id=first, approver="ana", reason="pilot")
    challenger, score = torch_run(years["both"], years["hold12"])
    record = wb.promote("bike-torch", run_id=challenger, approver="ana", reason="2012 too",
                        beat_champion="val_rmse")
    inputs = record.gates[0].inputs
    assert inputs["basis"] == "re-scored rmse" and inputs["data"]["rows"] == 1728
    assert inputs["candidate"] == pytest.approx(score, rel=1e-4)
    assert inputs["champion"] > inputs["candidate"]
