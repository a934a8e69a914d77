"""What a metric's name says: the score it is ("val_rmse" is an rmse) and which way is better.

Shared by the pipeline spec (a gate's mode must not contradict its metric) and promotion
(which re-scores models); neither imports the other for it.
"""

from __future__ import annotations

import re

# score -> is a higher value better ("max") or a lower one ("min")
DIRECTIONS = {"rmse": "min", "mse": "min", "mae": "min", "r2": "max", "accuracy": "max",
              "auc": "max"}
ALIASES = {"acc": "accuracy", "roc_auc": "auc", "rocauc": "auc"}
SUPPORTED = ", ".join(DIRECTIONS)


def score_name(metric: str) -> str | None:
    """The score a metric name means ("val_rmse" -> "rmse"), or None if it is none of ours."""
    name = metric.strip().lower()
    for candidate in (name, re.split(r"[_./:\-]", name)[-1]):
        candidate = ALIASES.get(candidate, candidate)
        if candidate in DIRECTIONS:
            return candidate
    return None


def direction(metric: str) -> str | None:
    found = score_name(metric)
    return DIRECTIONS[found] if found else None
