"""The scores a beat-champion gate computes itself agree with scikit-learn's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from workbench.errors import ConfigError
from workbench.metric_names import direction, score_name
from workbench.promotion.scoring import compute


def test_metric_names_map_to_scores_and_their_direction() -> None:
    assert [score_name(n) for n in ("val_rmse", "holdout.mae", "test/r2", "val_acc", "roc_auc",
                                    "val_roc_auc", "AUC", "val_loss")] == \
        ["rmse", "mae", "r2", "accuracy", "auc", "auc", "auc", None]
    assert (direction("val_rmse"), direction("val_auc"), direction("loss")) == ("min", "max", None)


def test_regression_scores_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(100, 30, 500)
    predicted = truth + rng.normal(0, 12, 500)
    assert compute("rmse", truth, predicted) == pytest.approx(
        metrics.mean_squared_error(truth, predicted) ** 0.5)
    assert compute("mae", truth, pd.Series(predicted)) == pytest.approx(
        metrics.mean_absolute_error(truth, predicted))
    assert compute("r2", truth, predicted[:, None]) == pytest.approx(
        metrics.r2_score(truth, predicted))


def test_classification_scores_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 400)
    scores = np.clip(truth * 0.3 + rng.random(400) * 0.7, 0, 1).round(2)  # with ties
    assert compute("auc", truth, scores) == pytest.approx(metrics.roc_auc_score(truth, scores))
    two_columns = np.column_stack([1 - scores, scores])
    assert compute("auc", truth, two_columns) == pytest.approx(
        metrics.roc_auc_score(truth, scores))
    assert compute("accuracy", truth, scores) == pytest.approx(
        metrics.accuracy_score(truth, scores > 0.5))
    logits = np.log(scores + 1e-3) - np.log(1 - scores + 1e-3)
    assert compute("accuracy", truth, logits) == pytest.approx(
        metrics.accuracy_score(truth, logits > 0))
    labels = rng.integers(0, 3, 400)
    probabilities = rng.random((400, 3))
    assert compute("accuracy", labels, probabilities) == pytest.approx(
        metrics.accuracy_score(labels, probabilities.argmax(axis=1)))
    assert compute("accuracy", labels, labels) == 1.0


def test_scores_that_cannot_be_computed_say_why() -> None:
    with pytest.raises(ConfigError, match="auc needs a binary target; the evaluation data has 3"):
        compute("auc", np.array([0, 1, 2]), np.array([0.1, 0.5, 0.9]))
    with pytest.raises(ConfigError, match="predicted NaN or infinity for 1 rows"):
        compute("rmse", np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(ConfigError, match="returned 1 predictions for 2 rows"):
        compute("mae", np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ConfigError, match="rmse needs one number per row; the model gives 3"):
        compute("rmse", np.zeros(4), np.zeros((4, 3)))
