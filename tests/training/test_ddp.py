"""DDP never hangs: uneven shards, a rank whose worker dies, ranks that cannot all be placed."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from distributed import Event

import workbench as wb
from tests.helpers import history_steps, wait_for
from workbench.dask_cluster import live_workers

DEMO = "workbench.demo.classifier:train"


def _hold_until_set(name: str) -> None:
    """Occupies its worker's only thread until the test lets go (at most a minute)."""
    Event(name).wait(60)


def _workers(client) -> list[str]:
    return sorted(live_workers(client))


@pytest.fixture
def two_workers(tracking, dask_client):  # type: ignore[no-untyped-def]
    """The shared cluster with both workers up again after a test that killed one."""
    wait_for(lambda: len(_workers(dask_client)) == 2, timeout=60)
    yield dask_client
    wait_for(lambda: len(_workers(dask_client)) == 2, timeout=60)


def test_uneven_shards_take_the_same_number_of_optimizer_steps(tracking, two_workers) -> None:
    def fit(ctx):
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        x = torch.tensor(ctx.shard(ctx.data)[["x"]].to_numpy(np.float32))
        model = DistributedDataParallel(torch.nn.Linear(1, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        steps = 0
        for start in range(0, len(x), 4):
            optimizer.zero_grad()
            model(x[start:start + 4]).sum().backward()  # all-reduces the gradients
            optimizer.step()
            steps += 1
        counts = [torch.zeros(1) for _ in range(ctx.world_size)]
        dist.all_gather(counts, torch.tensor([float(steps)]))
        ctx.log_metrics({f"steps_rank{r}": float(c) for r, c in enumerate(counts)}, step=0)

    frame = pd.DataFrame({"x": np.arange(9.0)})  # 9 rows: 5 and 4, i.e. 2 and 1 batches of 4
    result = wb.train(fit, data=frame, workers=2, progress=False).result(timeout=90)
    assert result.metrics == {"steps_rank0": 2.0, "steps_rank1": 2.0}


def test_the_demo_on_any_rows_with_two_workers_finishes(tracking, two_workers) -> None:
    # 642 rows: 513 training rows, shards of 257 and 256, 2 and 1 batches of 256 unpadded
    frame = wb.demo.make_dataset(642, seed=4)
    result = wb.train(DEMO, params={"epochs": 2}, data=frame, workers=2,
                      progress=False).result(timeout=120)
    assert history_steps(tracking, result.run_id, "val_loss") == [0, 1]
    assert tracking.get_run(result.run_id).info.status == "FINISHED"


def test_a_rank_whose_worker_dies_ends_the_job_with_a_clear_error(tracking, two_workers) -> None:
    def fit(ctx):
        import os
        import time

        import torch
        import torch.distributed as dist

        for step in range(600):
            if ctx.rank == 1 and step == 5:
                os._exit(3)  # the worker process dies for real, mid-collective for rank 0
            value = torch.ones(1)
            dist.all_reduce(value)
            ctx.log_metrics({"sum": float(value)}, step=step)
            time.sleep(0.05)

    started = time.monotonic()
    job = wb.train(fit, workers=2, progress=False)
    with pytest.raises(wb.JobFailed, match=r"rank 1's dask worker .* died") as info:
        job.result(timeout=150)
    assert time.monotonic() - started < 90  # not the process group's 5-minute timeout
    assert "\n" not in str(info.value)
    wait_for(lambda: tracking.get_run(job.run_id).info.status == "FAILED", timeout=30)
    assert "rank 1" in tracking.get_run(job.run_id).data.tags["workbench.error"]


def test_ranks_that_cannot_all_be_placed_fail_before_the_process_group(
        tracking, two_workers, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_DDP_START_TIMEOUT_S", "5")
    release = Event(f"release-{time.monotonic_ns()}", client=two_workers)
    busy = two_workers.submit(_hold_until_set, release.name, workers=[_workers(two_workers)[1]],
                              pure=False)
    wait_for(lambda: busy.status == "pending" and any(
        two_workers.processing().values()), timeout=30)

    def fit(ctx):
        ctx.log_metrics({"ran": 1.0}, step=0)

    started = time.monotonic()
    job = wb.train(fit, workers=2, progress=False)
    with pytest.raises(wb.JobFailed, match=r"rank 1 of run .* did not start within 5 s"):
        job.result(timeout=60)
    assert time.monotonic() - started < 30  # not the rendezvous's 5-minute timeout
    assert tracking.get_run(job.run_id).info.status == "FAILED"
    release.set()
    busy.result(timeout=60)  # the worker is free again for the next test
