"""Where a MetricWriter's batches go: MLflow's log_batch, one call per <=1000 points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.tracking.writer import Point, Sink

if TYPE_CHECKING:
    from mlflow import MlflowClient


def mlflow_sink(client: MlflowClient, run_id: str) -> Sink:
    from mlflow.entities import Metric

    def write(points: list[Point]) -> None:
        metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in points]
        client.log_batch(run_id, metrics=metrics, synchronous=True)

    return write


def persisted_steps(client: MlflowClient, run_id: str) -> dict[str, int]:
    """The highest step stored per metric key (the store's latest metric is the highest step)."""
    run = client.get_run(run_id)
    return {m.key: int(m.step) for m in run.data._metric_objs}
