"""Concept drift: the model's metric on current vs reference data, with a tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.errors import ConfigError


def scored(rows: int, seed: int, noise: float) -> pd.DataFrame:
    """Labels and a model's probabilities that track them with some noise."""
    rng = np.random.default_rng(seed)
    label = rng.random(rows) < 0.4
    score = np.clip(label * 0.6 + 0.2 + rng.normal(0, noise, rows), 0, 1)
    return pd.DataFrame({"x": rng.normal(size=rows), "label": label.astype(int),
                         "score": score, "predicted": (score > 0.5).astype(int)})


def test_degradation_is_flagged_and_stability_is_not() -> None:
    reference = scored(5_000, 1, noise=0.1)
    same = wb.performance_drift(reference, scored(5_000, 2, noise=0.1), target="label",
                                prediction="score")
    assert same.metric == "roc_auc" and not same.degraded
    assert same.reference == pytest.approx(same.current, abs=0.02)
    worse = wb.performance_drift(reference, scored(5_000, 3, noise=0.6), target="label",
                                 prediction="score")
    assert worse.degraded and worse.change < -0.05
    labels = wb.performance_drift(reference, scored(5_000, 3, noise=0.6), target="label",
                                  prediction="predicted")
    assert labels.metric == "accuracy" and labels.degraded


def test_drift_result_carries_and_logs_performance(tracking: object) -> None:
    reference, current = scored(3_000, 4, noise=0.1), scored(3_000, 5, noise=0.7)
    result = wb.drift(reference, current, engine="dask", target="label", prediction="score")
    assert result.performance is not None and result.performance.degraded
    assert "roc_auc degraded" in result.summary()
    result.log(model="scorer", version=1)
    history = wb.drift_history("scorer")
    assert history.loc[0, "performance.degraded"] == 1.0
    assert history.loc[0, "performance.roc_auc.current"] == pytest.approx(
        result.performance.current)


def test_bad_performance_inputs() -> None:
    reference = scored(500, 6, noise=0.1)
    with pytest.raises(ConfigError, match=r"current data has no column.*label"):
        wb.performance_drift(reference, reference.drop(columns="label"), target="label",
                             prediction="score")
    with pytest.raises(ConfigError, match="metric must be one of"):
        wb.performance_drift(reference, reference, target="label", prediction="score",
                             metric="auc")
    alone = wb.drift(reference, reference, target="label")  # left out, no performance
    assert alone.skipped["label"] == "the target" and alone.performance is None
