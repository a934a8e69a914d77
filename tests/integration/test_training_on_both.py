"""Training as a data scientist launches it (one run, a sweep, DDP over two workers) and a
scheduled pipeline slot, on the embedded defaults and on `workbench services` with no code
change: the runs, metrics, nested trials and models land in that store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest

import workbench as wb
from tests.conftest import Lifecycle
from tests.helpers import wait_for
from tests.pipelines.test_run import notebook
from workbench.pipelines.schedule import Scheduler
from workbench.pipelines.slots import SlotBook

DEMO = "workbench.demo.classifier:train"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_sweep_and_ddp_land_in_the_store(lifecycle: Lifecycle) -> None:
    tracking = lifecycle.tracking
    frame = wb.demo.make_dataset(600, seed=3)
    single = wb.train(DEMO, params={"epochs": 2}, data=frame, progress=False).result(300)
    run = tracking.get_run(single.run_id)
    assert run.info.status == "FINISHED" and "val_auc" in run.data.metrics
    assert len(tracking.get_metric_history(single.run_id, "train_loss")) == 2  # per epoch
    predicted = mlflow.pyfunc.load_model(single.model_uri)  # artifacts through the store
    assert predicted is not None

    sweep = wb.sweep(DEMO, space={"lr": [0.001, 0.03]}, params={"epochs": 1}, data=frame,
                     metric="val_loss", mode="min", progress=False)
    assert len(sweep.result(timeout=300)) == 2
    wait_for(lambda: tracking.get_run(sweep.parent_run_id).info.status == "FINISHED", 60)
    children = tracking.search_runs(
        [tracking.get_run(sweep.parent_run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{sweep.parent_run_id}'")
    assert sorted(c.data.params["lr"] for c in children) == ["0.001", "0.03"]

    def fit(ctx):  # type: ignore[no-untyped-def]
        import torch
        import torch.distributed as dist

        total = torch.tensor([float(len(ctx.shard(ctx.data)))])
        dist.all_reduce(total)
        ctx.log_metrics({"rows_seen": float(total), "world": float(ctx.world_size)}, step=0)

    ddp = wb.train(fit, data=frame, workers=2, progress=False).result(timeout=300)
    assert ddp.metrics == {"rows_seen": 600.0, "world": 2.0}
    assert tracking.get_run(ddp.run_id).data.metrics["rows_seen"] == 600.0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_due_schedule_slot_runs_once_on_the_store(lifecycle: Lifecycle,
                                                     tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    notebook(root / "step.ipynb", "seconds = 0.1",
             "import time\ntime.sleep(seconds)\nprint('slept', seconds)")
    name = f"nightly-{lifecycle.kind}-{np.random.default_rng().integers(1 << 30)}"
    (root / "pipelines" / f"{name}.yaml").write_text(
        f"name: {name}\nsteps:\n- {{name: nap, notebook: step.ipynb}}\n"
        "schedule: '0 0 1 1 *'\nschedule_since: '2000-01-01T00:00:00+00:00'\n")
    service = Scheduler(root)
    started = service.tick(wait=True)
    assert [n for n, _ in started] == [name]
    assert service.tick(wait=True) == []  # the slot is taken: never twice
    experiment = lifecycle.tracking.get_experiment_by_name(f"pipeline-{name}")
    runs = lifecycle.tracking.search_runs([experiment.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"}
    [record] = SlotBook(lifecycle.tracking).history(name)
    assert record.state == "ran"
