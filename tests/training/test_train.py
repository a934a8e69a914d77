"""wb.train end to end: a real LocalCluster, a real SQLite MLflow store, the built-in classifier."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests.helpers import history_steps, slow_counter, wait_for
from workbench.demo.classifier import encode, tabular_columns

DEMO = "workbench.demo.classifier:train"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return wb.demo.make_dataset(3000, seed=7)


def test_train_records_everything_a_run_needs(tracking, frame: pd.DataFrame) -> None:
    job = wb.train(DEMO, params={"epochs": 3, "lr": 0.02}, data=frame, experiment="records",
                   run_name="first", seed=11, register="churn", progress=False)
    result = job.result(timeout=240)

    run = tracking.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.data.params["epochs"] == "3" and run.data.params["lr"] == "0.02"
    assert run.data.params["batch_size"] == "256"  # schema defaults are recorded too
    assert history_steps(tracking, result.run_id, "val_loss") == [0, 1, 2]
    assert set(result.metrics) == {"train_loss", "val_loss", "val_accuracy", "val_auc"}
    assert result.metrics["val_auc"] > 0.6

    tags = run.data.tags
    assert tags["workbench.seed"] == "11"
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert tags["mlflow.source.git.commit"] == head.stdout.strip()
        assert tags["workbench.git.dirty"] in ("true", "false")
    assert "ipykernel_launcher" not in tags.get("mlflow.source.name", "")

    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == tags["workbench.data.digest"]
    assert "churned" in dataset_input.dataset.schema
    lock = mlflow.artifacts.load_text(f"runs:/{result.run_id}/environment/requirements.lock")
    assert "torch==" in lock and "mlflow==" in lock

    model = mlflow.pyfunc.load_model(result.model_uri)
    numeric, categorical = tabular_columns(frame, "churned")
    vocab = {c: sorted(map(str, frame[c].unique())) for c in categorical}
    x = encode(frame.head(20), numeric, vocab).to_numpy(np.float32)
    predictions = np.asarray(model.predict(x))
    assert predictions.shape == (20,) and ((predictions >= 0) & (predictions <= 1)).all()
    assert model.metadata.signature is not None

    (version,) = tracking.search_model_versions("name='churn'")
    assert version.run_id == result.run_id


def test_same_seed_same_metrics(tracking, frame: pd.DataFrame) -> None:
    runs = [wb.train(DEMO, params={"epochs": 2}, data=frame, seed=5, progress=False)
            for _ in range(2)]
    first, second = (job.result(timeout=240) for job in runs)
    assert first.metrics == pytest.approx(second.metrics, rel=1e-6)


def test_local_function_defined_in_a_notebook_runs_on_a_worker(tracking) -> None:
    factor = 3.0  # captured from the "notebook", shipped by value

    def fit(ctx):
        import os

        for step in range(4):
            ctx.log_metrics({"value": factor * step}, step=step)
        return {"pid": os.getpid()}

    job = wb.train(fit, params={"note": "hello"}, progress=False)
    result = job.result(timeout=120)
    history = tracking.get_metric_history(result.run_id, "value")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [0.0, 3.0, 6.0, 9.0]
    assert result.model_uri is None  # nothing returned that is a model
    assert tracking.get_run(result.run_id).data.params == {"note": "hello"}


def test_data_from_parquet_csv_and_dask(tracking, frame: pd.DataFrame, tmp_path: Path) -> None:
    import dask.dataframe as dd

    parquet_dir = tmp_path / "parts"
    parquet_dir.mkdir()
    frame.iloc[:1500].to_parquet(parquet_dir / "a.parquet")
    frame.iloc[1500:].to_parquet(parquet_dir / "b.parquet")
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)

    def rows(ctx):
        ctx.log_metrics({"rows": len(ctx.data), "columns": ctx.data.shape[1]}, step=0)

    for data in (parquet_dir, str(csv), dd.from_pandas(frame, npartitions=3)):
        result = wb.train(rows, data=data, progress=False).result(timeout=120)
        assert tracking.get_run(result.run_id).data.metrics == {"rows": 3000.0,
                                                                 "columns": 10.0}
        (dataset_input,) = tracking.get_run(result.run_id).inputs.dataset_inputs
        assert len(dataset_input.dataset.digest) == 16


def test_progress_is_visible_while_the_run_is_going(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 8, "delay": 0.4}, progress=False)
    wait_for(lambda: job.progress()["step"] >= 2, timeout=60)
    assert not job.done()
    assert job.status() == "RUNNING"
    snapshot = job.progress()
    assert snapshot["total"] == 8 and "loss" in snapshot["metrics"]
    job.result(timeout=60)
    assert job.status() == "FINISHED"
    assert job.progress()["step"] == 7


def test_cancel_stops_the_run_and_marks_it_killed(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 200, "delay": 0.2}, progress=False)
    wait_for(lambda: job.progress()["step"] >= 1, timeout=60)
    job.cancel()
    assert job.status() == "KILLED"
    wait_for(lambda: tracking.get_run(job.run_id).info.status == "KILLED", timeout=30)
    steps = history_steps(tracking, job.run_id, "loss")
    assert 2 <= len(steps) < 200  # what was logged before the cancel is kept
    with pytest.raises(wb.JobCancelled):
        job.result(timeout=30)


def test_sweep_runs_trials_as_nested_runs_and_picks_the_best(tracking, frame) -> None:
    sweep = wb.sweep(DEMO, space={"lr": [0.001, 0.03], "hidden": [8, 32]},
                     params={"epochs": 2}, data=frame, metric="val_loss", mode="min",
                     experiment="sweeps", progress=False)
    results = sweep.result(timeout=300)
    assert len(results) == 4
    best = sweep.best()
    assert best.metrics["val_loss"] == min(r.metrics["val_loss"] for r in results)

    parent = tracking.get_run(sweep.parent_run_id)
    wait_for(lambda: tracking.get_run(sweep.parent_run_id).info.status == "FINISHED", 30)
    parent = tracking.get_run(sweep.parent_run_id)
    assert parent.data.tags["workbench.best_run_id"] == best.run_id
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best.metrics["val_loss"])
    children = tracking.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{sweep.parent_run_id}'")
    assert len(children) == 4
    grid = {(c.data.params["lr"], c.data.params["hidden"]) for c in children}
    assert grid == {("0.001", "8"), ("0.001", "32"), ("0.03", "8"), ("0.03", "32")}
    assert all(c.info.status == "FINISHED" for c in children)
    # trials skip MLflow's reload check when logging models: the best one must still serve
    numeric, categorical = tabular_columns(frame, "churned")
    vocab = {c: sorted(map(str, frame[c].unique())) for c in categorical}
    x = encode(frame.head(3), numeric, vocab).to_numpy(np.float32)
    assert np.asarray(mlflow.pyfunc.load_model(best.model_uri).predict(x)).shape == (3,)


def test_random_sweep_is_seeded(tracking) -> None:
    def fit(ctx):
        ctx.log_metrics({"score": ctx.params.x}, step=0)

    space = {"x": wb.uniform(0.0, 1.0), "k": [1, 2, 3]}
    first = wb.sweep(fit, space=space, n_trials=3, metric="score", seed=3, progress=False)
    second = wb.sweep(fit, space=space, n_trials=3, metric="score", seed=3, progress=False)
    values = [sorted(r.metrics["score"] for r in s.result(timeout=120)) for s in (first, second)]
    assert values[0] == values[1] and len(set(values[0])) == 3
    assert first.best().metrics["score"] == values[0][0]


def test_cancelling_a_finished_job_changes_nothing(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 2, "delay": 0.01}, progress=False)
    job.result(timeout=60)
    job.cancel()
    assert job.status() == "FINISHED"
    assert tracking.get_run(job.run_id).info.status == "FINISHED"
