"""Concept drift: does the model still score as well on current data as on reference data?

When both tables carry the true label and the model's prediction, the model's metric is computed
on each side and compared with a tolerance: absolute for scores (accuracy, ROC AUC, F1: higher is
better), relative for errors (RMSE, MAE: lower is better). Only the two columns are read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.monitoring.tables import open_table

HIGHER_IS_BETTER = {"accuracy": True, "roc_auc": True, "f1": True, "rmse": False, "mae": False}


@dataclass(frozen=True)
class PerformanceDrift:
    metric: str
    reference: float
    current: float
    tolerance: float
    degraded: bool

    @property
    def change(self) -> float:
        return self.current - self.reference

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "change": self.change}

    def summary(self) -> str:
        verdict = "degraded" if self.degraded else "holds"
        return (f"{self.metric} {verdict}: {self.reference:.4g} on reference, "
                f"{self.current:.4g} on current (tolerance {self.tolerance:g})")


def performance_drift(reference: Any, current: Any, *, target: str, prediction: str,
                      metric: str | None = None, tolerance: float = 0.05) -> PerformanceDrift:
    """The model's `metric` on reference vs current data; `degraded` past `tolerance`."""
    if metric is not None and metric not in HIGHER_IS_BETTER:
        raise ConfigError(f"metric must be one of {', '.join(HIGHER_IS_BETTER)}, got {metric!r}")
    if tolerance < 0:
        raise ConfigError(f"tolerance must be >= 0, got {tolerance}")
    sides = []
    for data, label in ((reference, "reference"), (current, "current")):
        table = open_table(data, label)
        missing = [c for c in (target, prediction) if c not in table.columns]
        if missing:
            raise ConfigError(f"{label} data has no column(s) {', '.join(missing)}; performance "
                              "drift needs the true label and the model's prediction on both sides")
        frame = table.to_pandas([target, prediction]).dropna()
        if frame.empty:
            raise ConfigError(f"{label} data has no rows with both {target!r} and {prediction!r}")
        sides.append(frame)
    chosen = metric or _default_metric(sides[0][target], sides[0][prediction])
    ref_value, cur_value = (_score(chosen, f[target], f[prediction]) for f in sides)
    if HIGHER_IS_BETTER[chosen]:
        degraded = cur_value < ref_value - tolerance
    else:
        degraded = cur_value > ref_value * (1 + tolerance)
    return PerformanceDrift(chosen, ref_value, cur_value, tolerance, bool(degraded))


def _default_metric(truth: Any, predicted: Any) -> str:
    labels = set(np.unique(truth))
    if len(labels) <= 2 and labels <= {0, 1}:  # bools compare equal to 0 and 1
        scores = np.asarray(predicted, dtype=float)
        is_probability = ((scores >= 0) & (scores <= 1)).all() and len(np.unique(scores)) > 2
        return "roc_auc" if is_probability else "accuracy"
    if truth.dtype.kind in "fc" or len(labels) > 20:
        return "rmse"
    return "accuracy"


def _score(metric: str, truth: Any, predicted: Any) -> float:
    from sklearn import metrics

    y, p = np.asarray(truth), np.asarray(predicted)
    try:
        if metric == "roc_auc":
            return float(metrics.roc_auc_score(y, p.astype(float)))
        if metric == "accuracy":
            return float(metrics.accuracy_score(y, p))
        if metric == "f1":
            return float(metrics.f1_score(y, p, average="binary" if len(np.unique(y)) <= 2
                                          else "macro"))
        if metric == "rmse":
            return float(np.sqrt(metrics.mean_squared_error(y, p.astype(float))))
        return float(metrics.mean_absolute_error(y, p.astype(float)))
    except ValueError as exc:
        raise ConfigError(f"cannot compute {metric} ({exc}); pick a metric that fits the "
                          "labels, e.g. metric='accuracy'") from None
