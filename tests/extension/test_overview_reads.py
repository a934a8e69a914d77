"""What one sidebar refresh (GET overview: `views.overview`, the handler's one call) costs the
store: the same SQL statements for one model and pipeline as for four, counted as
benchmarks/bench_lab_api.py counts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_lab_api import StoreQueries, seed_governance
from workbench_lab import views

MOST = 30  # experiments, the newest runs, the registry, drift checks, pipeline runs


@pytest.mark.timeout(300)
def test_a_refresh_reads_the_store_as_often_for_four_models_as_for_one(
        wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.overview
    import workbench.pipelines.listing

    root = tmp_path / "project"
    root.mkdir()
    with StoreQueries().installed() as queries:
        seed_governance(root, models=1, pipelines=1)
        views.overview(root)  # the first touch: MLflow's schema check, caches
        with queries.counting() as one:
            views.overview(root)
        seed_governance(root, models=3, pipelines=3, first=1)
        views.overview(root)
        with queries.counting() as four:
            seen = views.overview(root)
        assert seen["errors"] == {}
        assert len(four) == len(one) <= MOST, "\n".join(four)
        # a page of drift checks (pipeline runs) that came back full: the models (pipelines)
        # it missed are looked up one by one, and the answer is the same
        monkeypatch.setattr(workbench.overview, "DRIFT_PAGE", 1)
        monkeypatch.setattr(workbench.pipelines.listing, "LAST_PAGE", 1)
        with queries.counting() as paged:
            again = views.overview(root)
    assert again["models"] == seen["models"] and again["pipelines"] == seen["pipelines"]
    assert len(paged) > len(four)
    models = {m["model"]: m for m in seen["models"]}
    assert sorted(models) == [f"model-{i}" for i in range(4)]
    for name, model in models.items():
        assert model["champion"] == "1"
        [request] = model["pending"]
        assert request["request_id"] == f"{name}/2" and request["requester"] == "alice"
        assert request["reason"] == "again"
        assert model["drift"] is not None and model["drift"]["threshold"] == 0.5
    assert models["model-0"]["drift"]["drifting"] is False  # its check compared like with like
    assert models["model-3"]["drift"]["drifting"] is True
    # judged at the threshold each check recorded (wb.drift's 0.5), from the one search
    assert models["model-0"]["drift"]["text"] == "stable · drift 0 / threshold 0.5"
    assert models["model-3"]["drift"]["text"] == "data_drift fired · drift 1 / threshold 0.5"
    assert models["model-3"]["drift"]["state"] == "fired"
    assert models["model-3"]["drift"]["fired"] == ["data_drift"]
    pipelines = {p["name"]: p for p in seen["pipelines"]}
    assert sorted(pipelines) == [f"pipeline-{i}" for i in range(4)]
    for index in range(4):
        row = pipelines[f"pipeline-{index}"]
        assert row["model"] == f"model-{index}" and row["last"]["status"] == "FINISHED"
    listed = {e["name"] for e in seen["experiments"]}
    assert {"bench-models", "workbench-monitoring", "pipeline-pipeline-3"} <= listed
