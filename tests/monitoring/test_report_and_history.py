"""The report a person reads, the MLflow record of a check, and the history of checks."""

from __future__ import annotations

import json
import time

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.monitoring.data import mixed_table
from workbench.errors import ConfigError

Pair = tuple[pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def pair() -> Pair:
    return (mixed_table(3_000, seed=20).drop(columns="comment"),
            mixed_table(3_000, seed=21, shift=0.3).drop(columns="comment"))


def test_evidently_engine_report_is_evidentlys_standalone_html(pair: Pair) -> None:
    result = wb.drift(*pair, engine="evidently")
    page = result.to_html()
    assert page.lstrip().lower().startswith("<!doctype html") or "<html" in page[:500]
    assert "drawDashboard" in page  # Evidently's renderer, inline
    assert "src=\"http" not in page and "<link" not in page  # nothing fetched from the network
    inline = result.report()._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "drawDashboard" in inline
    assert "<script" not in inline  # escaped into srcdoc: runs inside the frame, not the page


def test_dask_engine_report_is_labelled_as_a_sample(pair: Pair) -> None:
    reference, current = pair
    result = wb.drift(reference, current, engine="dask", report_sample_rows=1_000)
    page = result.to_html()
    assert "Workbench drift check:" in page
    assert "seeded sample (seed 0) of 1,000 of 3,000 reference rows" in page
    assert result.summary() in page
    assert wb.drift(reference, current, engine="dask", report_sample_rows=1_000).to_html() \
        .count("seeded sample") == 1


def test_log_to_a_run_stores_report_json_and_scores(tracking: MlflowClient, pair: Pair) -> None:
    result = wb.drift(*pair, engine="dask")
    with mlflow.start_run(experiment_id=_experiment(tracking)) as run:
        pass
    assert result.log(run.info.run_id) == run.info.run_id
    stored = tracking.get_run(run.info.run_id)
    assert stored.data.metrics["drift.share"] == pytest.approx(result.share)
    assert stored.data.metrics["drift.drifted"] == float(result.drifted)
    assert stored.data.metrics["drift.score.normal"] == pytest.approx(
        result.columns["normal"].score)
    saved = json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/drift/result.json"))
    assert saved["columns"]["normal"]["stattest"] == "wasserstein"
    assert saved["drifted_columns"] == result.drifted_columns
    page = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/drift/report.html")
    assert "drawDashboard" in page
    with pytest.raises(ConfigError, match="no MLflow run 'nope'"):
        result.log("nope")
    with pytest.raises(ConfigError, match=r"pass either run_id= .* or model="):
        result.log()


def test_history_is_time_ordered_per_model_and_version(tracking: MlflowClient, pair: Pair) -> None:
    reference, current = pair
    assert wb.drift_history("churn").empty
    calm = wb.drift(reference, reference.sample(frac=0.5, random_state=1), engine="dask")
    moved = wb.drift(reference, current, engine="dask")
    first = calm.log(model="churn", version=1)
    time.sleep(0.01)
    second = moved.log(model="churn", version=2)
    moved.log(model="other-model", version=1)
    history = wb.drift_history("churn")
    assert list(history["run_id"]) == [first, second]
    assert list(history["version"]) == ["1", "2"]
    assert list(history["drifted"]) == [calm.drifted, moved.drifted]
    assert history["time"].is_monotonic_increasing
    assert history.loc[1, "drift.score.normal"] == pytest.approx(moved.columns["normal"].score)
    run = tracking.get_run(second)
    assert run.info.status == "FINISHED"
    assert run.data.tags["workbench.model"] == "churn"


def test_history_version_defaults_to_the_champion(tracking: MlflowClient, pair: Pair) -> None:
    with mlflow.start_run(experiment_id=_experiment(tracking)) as run:
        mlflow.log_text("x", "model/MLmodel")
    tracking.create_registered_model("scored")
    version = tracking.create_model_version("scored", f"runs:/{run.info.run_id}/model",
                                            run.info.run_id)
    tracking.set_registered_model_alias("scored", "champion", version.version)
    wb.drift(*pair, engine="dask").log(model="scored")
    assert list(wb.drift_history("scored")["version"]) == [str(version.version)]


def _experiment(client: MlflowClient) -> str:
    """An experiment of the test's store: the Default one puts artifacts in ./mlruns."""
    from workbench.tracking.store import ensure_experiment

    return ensure_experiment(client, "drift-tests")
