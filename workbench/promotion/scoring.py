"""The scores a beat-champion gate computes itself when it re-scores two models on one dataset.

Pure numpy, no I/O. A gate metric names its score by its name or its last part ("val_rmse",
"holdout.auc"), so the metric a run logs and the score recomputed are the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.errors import ConfigError


def compute(score: str, target: Any, predictions: Any) -> float:
    """`score` of `predictions` (what a pyfunc model's predict returned) against `target`."""
    truth = np.asarray(target)
    values = _as_array(predictions)
    if len(values) != len(truth):
        raise ConfigError(f"the model returned {len(values)} predictions for {len(truth)} rows; "
                          "its predict must give one per row")
    return float(_SCORES[score](truth, values))


def _as_array(predictions: Any) -> np.ndarray:
    values = predictions.to_numpy() if hasattr(predictions, "to_numpy") else predictions
    if isinstance(values, dict) and len(values) == 1:  # a tensor-spec model's named output
        values = next(iter(values.values()))
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    return values


def one_per_row(predictions: Any) -> np.ndarray:
    """What a model predicted, one value per row: a two-class model's per-class scores become
    the positive class's; more classes, the class of the highest score."""
    values = _as_array(predictions)
    if values.ndim == 2:
        values = values[:, 1] if values.shape[1] == 2 else values.argmax(axis=1)
    if values.dtype == object:
        values = values.astype(str)
    return values


def _numbers(values: np.ndarray, score: str) -> np.ndarray:
    if values.ndim != 1:
        raise ConfigError(f"{score} needs one number per row; the model gives "
                          f"{values.shape[1]} per row")
    numbers = values.astype(np.float64)
    bad = int((~np.isfinite(numbers)).sum())
    if bad:
        raise ConfigError(f"the model predicted NaN or infinity for {bad} rows; {score} cannot "
                          "be computed")
    return numbers


def _rmse(truth: np.ndarray, values: np.ndarray) -> float:
    return float(np.sqrt(_mse(truth, values, "rmse")))


def _mse(truth: np.ndarray, values: np.ndarray, name: str = "mse") -> float:
    return float(np.mean((_numbers(values, name) - truth.astype(np.float64)) ** 2))


def _mae(truth: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(np.abs(_numbers(values, "mae") - truth.astype(np.float64))))


def _r2(truth: np.ndarray, values: np.ndarray) -> float:
    y = truth.astype(np.float64)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        raise ConfigError("r2 is undefined on evaluation data whose target is constant; use "
                          "rmse or mae, or more varied evaluation data")
    return 1.0 - float(((_numbers(values, "r2") - y) ** 2).sum()) / total


def _accuracy(truth: np.ndarray, values: np.ndarray) -> float:
    """Labels as given; per-class scores -> the class of the highest; one score per row of a
    0/1 target -> 1 above 0.5 (probabilities) or above 0 (logits)."""
    if values.ndim == 2:
        labels: np.ndarray = values.argmax(axis=1)
    elif np.issubdtype(values.dtype, np.floating) and not np.all(values == np.round(values)):
        if set(np.unique(truth).tolist()) - {0, 1}:
            raise ConfigError("accuracy from one score per row needs a 0/1 target; the model "
                              "gives scores, the target has other labels")
        cut = 0.5 if values.min() >= 0 and values.max() <= 1 else 0.0
        labels = (values > cut).astype(int)
    else:
        labels = values
    return float(np.mean(labels == truth))


def _auc(truth: np.ndarray, values: np.ndarray) -> float:
    """Binary ROC AUC from ranks (Mann-Whitney U), ties counted half."""
    classes = np.unique(truth)
    if len(classes) != 2:
        raise ConfigError(f"auc needs a binary target; the evaluation data has {len(classes)} "
                          "classes (use accuracy)")
    if values.ndim == 2:
        if values.shape[1] != 2:
            raise ConfigError("auc needs one score per row (or two class scores); the model "
                              f"gives {values.shape[1]} per row")
        values = values[:, 1]
    scores = _numbers(values, "auc")
    positive = truth == classes[1]
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share the mean rank
    ranks = average_rank[inverse]
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


_SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "rmse": _rmse, "mse": _mse, "mae": _mae, "r2": _r2, "accuracy": _accuracy, "auc": _auc}
