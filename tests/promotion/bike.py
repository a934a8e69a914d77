"""The UCI bike-sharing data (hourly, 2011-2012) and a small numpy model of its hourly count,
logged as an MLflow pyfunc with a signature, as a user's own model would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

# shipped inside the package (CC BY 4.0, attributed in its README): a clone alone has it
DATA = Path(__file__).resolve().parents[2] / "workbench" / "demo" / "data" / \
    "bike_sharing_hourly.csv"
TARGET = "count"
FEATURES = ["season", "month", "hour", "holiday", "weekday", "workingday", "weathersit", "temp",
            "feelingTemp", "humidity", "windspeed"]
NOT_FEATURES = ["instant", "dateday", "year", "casual", "registered", "count"]


def bike() -> pd.DataFrame:
    return pd.read_csv(DATA)


def split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80 % to train, 20 % held out."""
    held = np.random.default_rng(seed).random(len(frame)) < 0.2
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def design(frame: pd.DataFrame) -> np.ndarray:
    hours = np.eye(24)[frame["hour"].to_numpy(int)]  # the daily cycle, one column per hour
    rest = frame[["temp", "humidity", "windspeed", "workingday", "weathersit"]].to_numpy(float)
    return np.hstack([hours, rest, hours * frame[["workingday"]].to_numpy(float)])


class HourlyCount(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Least squares on the hour of day and the weather."""

    def __init__(self, coefficients: np.ndarray) -> None:
        self.coefficients = coefficients

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return np.asarray(design(model_input) @ self.coefficients)


def fit(train: pd.DataFrame) -> HourlyCount:
    coefficients, *_ = np.linalg.lstsq(design(train), train[TARGET].to_numpy(float), rcond=None)
    return HourlyCount(coefficients)


def rmse(model: HourlyCount, frame: pd.DataFrame) -> float:
    errors = model.predict(None, frame[FEATURES]) - frame[TARGET].to_numpy(float)
    return float(np.sqrt(np.mean(errors ** 2)))


def trained_run(train: pd.DataFrame, holdout: pd.DataFrame, *, evaluation: Any = None,
                experiment: str = "bike-tests") -> str:
    """A FINISHED run: the model fitted on `train`, `val_rmse` on `holdout` logged, and with
    `evaluation` (a DataFrame or path) that data logged as its evaluation input."""
    import workbench as wb
    from workbench.tracking.store import ensure_experiment, tracking_client

    model = fit(train)
    client = tracking_client()
    with mlflow.start_run(experiment_id=ensure_experiment(client, experiment)) as run:
        mlflow.log_metric("val_rmse", rmse(model, holdout))
        mlflow.pyfunc.log_model(name="model", python_model=model,
                                input_example=train[FEATURES].head(3),
                                pip_requirements=["mlflow"])
        if evaluation is not None:
            wb.log_evaluation_data(evaluation, target=TARGET)
    return str(run.info.run_id)


def torch_run(train: pd.DataFrame, evaluation: pd.DataFrame, steps: int = 150,
              experiment: str = "bike-tests") -> tuple[str, float]:
    """A run whose model is a small torch net exported as wb.train exports it (pt2, a tensor
    signature, the feature names beside it), with `evaluation` logged; (run id, its rmse on
    `evaluation` computed here)."""
    import torch

    import workbench as wb
    from workbench.tracking.store import ensure_experiment, tracking_client
    from workbench.training.model_export import log_model, prepare

    torch.manual_seed(0)
    x = torch.tensor(train[FEATURES].to_numpy(np.float32))
    y = torch.tensor(train[[TARGET]].to_numpy(np.float32))

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", x.mean(0))
            self.register_buffer("std", x.std(0) + 1e-6)
            self.layers = torch.nn.Sequential(torch.nn.Linear(len(FEATURES), 32),
                                              torch.nn.ReLU(), torch.nn.Linear(32, 1))

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.layers((inputs - self.mean) / self.std) * 100

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = net(torch.tensor(evaluation[FEATURES].to_numpy(np.float32))).numpy()[:, 0]
    score = float(np.sqrt(np.mean((predicted - evaluation[TARGET].to_numpy(float)) ** 2)))
    with mlflow.start_run(experiment_id=ensure_experiment(tracking_client(), experiment)) as run:
        log_model(prepare(net, explicit=train[FEATURES].head(5), recorded=None, data=None,
                          target=TARGET), register=None, validate=False)
        wb.log_evaluation_data(evaluation, target=TARGET)
    return str(run.info.run_id), score
