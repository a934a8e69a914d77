"""Train functions and helpers used by several tests (importable by dask workers)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

import workbench as wb


class SlowParams(BaseModel):
    epochs: int = 10
    delay: float = 0.3
    fail_at: int = -1


@wb.trainable(params=SlowParams)
def slow_counter(ctx: Any) -> dict[str, int]:
    """Counts epochs slowly, checkpointing each one; optionally raises at `fail_at`."""
    state = ctx.restore()
    start = state["epoch"] + 1 if state else 0
    ctx.total_steps = ctx.params.epochs
    for epoch in range(start, ctx.params.epochs):
        if epoch == ctx.params.fail_at:
            raise ValueError(f"boom at epoch {epoch}")
        time.sleep(ctx.params.delay)
        ctx.log_metrics({"epoch_value": float(epoch), "loss": 1.0 / (epoch + 1)}, step=epoch)
        ctx.checkpoint({"epoch": epoch})
    return {"epochs": ctx.params.epochs}


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def history_steps(client: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def on_cluster(client: Any) -> dict[str, str]:
    """The environment that sends a `workbench` command to this session's dask cluster."""
    return {"WORKBENCH_SCHEDULER": client.scheduler.address}
