"""Runs with a logged model on whichever store the test selected (embedded or server)."""

from __future__ import annotations

from typing import Any

import mlflow


class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return [0.5] * len(model_input)


def model_run(auc: float = 0.8, metrics: dict[str, float] | None = None,
              data: Any = None) -> str:
    """A FINISHED run with `val_auc`, a pyfunc model and, with `data` (a path), the training
    data recorded as its dataset input (digest included), as wb.train records it."""
    from mlflow.entities import Metric

    from workbench.tracking.store import ensure_experiment, tracking_client

    client = tracking_client()
    experiment = ensure_experiment(client, "governance-tests")
    with mlflow.start_run(experiment_id=experiment) as run:
        client.log_batch(run.info.run_id, metrics=[
            Metric(k, v, 0, 0) for k, v in {"val_auc": auc, **(metrics or {})}.items()])
        mlflow.pyfunc.log_model(name="model", python_model=Constant(),
                                pip_requirements=["mlflow"])
        if data is not None:
            from workbench.data import inspect
            from workbench.tracking.datasets import log_dataset

            log_dataset(client, run.info.run_id, inspect(data), None, None)
    return str(run.info.run_id)


def client() -> Any:
    from workbench.tracking.store import tracking_client

    return tracking_client()


def champion(model: str) -> str | None:
    from workbench.promotion.registry import champion_version

    return champion_version(client(), model)
