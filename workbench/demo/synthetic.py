"""A seeded synthetic tabular classification dataset with knobs for drift.

Numeric and categorical features and a binary target from a known logistic rule. Two knobs
move a "current" sample away from the reference:
- `covariate_drift` shifts and widens feature distributions and tilts category frequencies
  (P(x) changes, the rule does not);
- `concept_drift` rotates the rule itself (P(y|x) changes, features look the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMERIC = ("age", "income", "tenure", "usage", "balance", "visits")
CATEGORICAL = {
    "region": ("north", "south", "east", "west"),
    "plan": ("basic", "plus", "pro"),
    "channel": ("web", "store", "phone", "partner", "app"),
}
TARGET = "churned"


@dataclass(frozen=True)
class DemoData:
    numeric: tuple[str, ...] = NUMERIC
    categorical: tuple[str, ...] = tuple(CATEGORICAL)
    target: str = TARGET


def make_dataset(rows: int = 10_000, *, seed: int = 0, covariate_drift: float = 0.0,
                 concept_drift: float = 0.0) -> pd.DataFrame:
    """`rows` rows of features plus the binary target column `churned`.

    Drift knobs are in [0, 1]: 0 is the reference distribution, 1 a strong shift.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    for name, value in (("covariate_drift", covariate_drift), ("concept_drift", concept_drift)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    rng = np.random.default_rng(seed)
    shift = 1.5 * covariate_drift
    frame = pd.DataFrame({
        "age": rng.normal(40 + 10 * shift, 12 * (1 + 0.5 * covariate_drift), rows).clip(18, 95),
        "income": rng.lognormal(10.5 + 0.3 * shift, 0.5, rows),
        "tenure": rng.gamma(2.0 + shift, 12.0, rows),
        "usage": rng.normal(shift, 1.0 + covariate_drift, rows),
        "balance": rng.normal(1_000 * (1 + shift), 400, rows),
        "visits": rng.poisson(3 + 2 * shift, rows).astype("int64"),
    })
    for column, levels in CATEGORICAL.items():
        weights = np.linspace(1.0, 1.0 + 3.0 * covariate_drift, len(levels))
        frame[column] = pd.Categorical(
            rng.choice(levels, size=rows, p=weights / weights.sum()), categories=levels)
    frame[TARGET] = _target(frame, rng, concept_drift)
    return frame


def _target(frame: pd.DataFrame, rng: np.random.Generator, concept_drift: float) -> np.ndarray:
    z = {c: (frame[c] - frame[c].mean()) / (frame[c].std() + 1e-9) for c in NUMERIC}
    angle = np.pi * concept_drift  # rotates the weight on the two strongest features
    logit = (
        1.2 * (np.cos(angle) * z["usage"] - np.sin(angle) * z["tenure"])
        - 0.8 * (np.sin(angle) * z["usage"] + np.cos(angle) * z["tenure"])
        + 0.5 * z["visits"] - 0.3 * z["income"]
        + frame["plan"].map({"basic": 0.6, "plus": 0.0, "pro": -0.6}).astype(float)
        + frame["channel"].map({"web": 0.0, "store": -0.3, "phone": 0.4, "partner": 0.1,
                                "app": -0.2}).astype(float)
    )
    return (rng.random(len(frame)) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
