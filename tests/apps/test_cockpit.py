"""The cockpit without a browser: every part read through the workbench API, markup shown as
text, and a tracking server that goes away is a banner the page recovers from by itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.apps.test_promotion_dashboard import MARKUP
from tests.cli.test_lab import free_port
from tests.pipelines.test_monitor import project  # noqa: F401 - the fixture
from tests.stores import mlflow_server
from workbench_apps.cockpit import data_store, views


def test_every_part_shows_with_markup_as_text(tracking: MlflowClient,
                                              project: Path) -> None:  # noqa: F811
    wb.check_drift("churn", project / "moved.parquet", root=project)
    experiment = tracking.create_experiment("live")
    busy = tracking.create_run(experiment, run_name=MARKUP).info.run_id
    tracking.log_metric(busy, "loss", 0.25, step=3)
    reading = data_store.read(project)
    assert reading.errors == {}
    assert reading.data["cluster"]["state"] == "running"
    assert len(reading.data["cluster"]["workers"]) == 2
    [live] = reading.data["running"]
    assert (live["run_id"], live["metrics"]) == (busy, {"loss": 0.25})
    [model] = reading.data["models"]
    assert model["model"] == "churn" and model["drifting"] and model["champion"] is None
    assert model["fired"] == ["data_drift"] and model["threshold"] == 0.3  # the policy's
    assert model["verdict"].startswith("data_drift fired · drift ")
    assert model["verdict"].endswith(" / threshold 0.3")
    assert [p["name"] for p in reading.data["pipelines"]] == ["retrain"]
    shown = views.page(reading)
    assert MARKUP not in shown and "&lt;img src=x" in shown
    assert '<a href="/drift?model=churn" title="data_drift fired: drift share' in shown
    assert f"{model['verdict']}</b>" in shown
    assert "loss 0.25" in shown and "never run" in shown


@pytest.mark.timeout(600)
def test_a_tracking_server_that_goes_away_is_a_banner_and_the_page_recovers(
        wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the dashboard sets 2
    monkeypatch.setenv("WORKBENCH_SCHEDULER", "")
    port, served = free_port(), tmp_path / "server"
    with mlflow_server(served, port) as uri:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        MlflowClient(uri).create_registered_model("churn")
        assert data_store.read(tmp_path).errors == {}
    gone = data_store.read(tmp_path)
    assert set(gone.errors) == {"running", "models"}, gone.errors
    shown = views.page(gone)
    assert "Models could not be read:" in shown and 'class="alert alert-danger"' in shown
    assert "Pipelines</h3><p><em>No pipelines" in shown  # what needs no store still shows
    with mlflow_server(served, port):  # back, same store
        back = data_store.read(tmp_path)
    assert back.errors == {} and [m["model"] for m in back.data["models"]] == ["churn"]


def test_gpu_workers_show_their_use_and_memory() -> None:
    """What NVML reports for a dask-cuda worker (no GPU here: the worker's reading is given)."""
    data = {"state": "running", "scheduler": "tcp://10.0.0.5:8786", "dashboard": None,
            "workers": [{"address": "tcp://10.0.0.7:40000", "name": "gpu-0", "nthreads": 1,
                         "cpu": 12.0, "memory": 3 << 30, "memory_limit": 64 << 30,
                         "tasks": {"executing": 1, "memory": 0}, "gpu_utilization": 87,
                         "gpu_memory": 20 << 30, "gpu_memory_total": 80 << 30}]}
    shown = views.cluster(data)
    assert "87%, 20.0 GiB of 80.0 GiB" in shown and "3.0 GiB of 64.0 GiB" in shown
    assert "executing 1" in shown and "memory 0" not in shown
