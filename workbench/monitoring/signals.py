"""What a monitor watches besides the drift of the raw columns, each a signal of its own.

- `input_drift`: the model's own inputs, made from both sides by the spec's `monitor.features`
  step, drift (share at or past the policy's threshold);
- `prediction_drift`: the champion's predictions on production data drift from its predictions
  on its training data (no labels needed);
- `performance`: on production rows whose labels are known (in the data, or joined by
  `monitor.key` from labels that arrived later), the champion's metric falls below `min`
  (rises above `max` for an error), or worsens by more than `max_drop` against its reference
  score (the metric its run logged, else its score on the training data).

The champion predicts in a child process (`score_child.predict_elsewhere`): nothing is
unpickled in the monitor's own process. Large sides are scored on a seeded sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from workbench.pipelines.spec import MonitorPolicy, PerformancePolicy

SCORE_ROWS = 100_000  # rows per side the champion scores (a seeded sample past this)
SIGNALS = ("data_drift", "input_drift", "prediction_drift", "performance")


@dataclass
class Signal:
    name: str  # one of SIGNALS
    fired: bool
    value: float | None  # the share, the prediction drift score, the metric
    threshold: str  # what fires it, as text: ">= 0.5", "< 0.65", "drop > 0.05 from 0.71"
    detail: str  # what was found, or why it could not be checked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Watched:
    signals: list[Signal]
    predictions: dict[str, np.ndarray]  # "reference" / "current" -> one value per row

    @property
    def fired(self) -> list[str]:
        return [s.name for s in self.signals if s.fired]


def watch(uri: str, inputs: list[str] | None, reference: Any, current: Any, *,
          policy: MonitorPolicy, threshold: float, target: str | None,
          labels: Any = None, root: Path, reference_score: Any = None, seed: int = 0
          ) -> Watched:
    """The input, prediction and performance signals of the champion at `uri`."""
    from workbench.monitoring.api import drift

    ref = side_frame(reference, "reference", seed)
    cur = side_frame(current, "current", seed)
    cur_truth = _labels(cur, target, labels, policy.key)
    signals: list[Signal] = []
    ref_x, cur_x = ref, cur
    if policy.features:
        make = feature_step(policy.features, root)
        ref_x, cur_x = _featured(make, ref, "reference"), _featured(make, cur, "current")
        shared = [c for c in (inputs or ref_x.columns) if c in ref_x.columns and c in cur_x.columns
                  and c != target]
        if shared:
            found = drift(ref_x[shared], cur_x[shared], drift_share=threshold, engine="dask")
            signals.append(Signal(
                "input_drift", found.share >= threshold, found.share, f">= {threshold:g}",
                f"{len(found.drifted_columns)} of {len(found.columns)} model inputs drifted"
                + (f" ({', '.join(found.drifted_columns[:8])})" if found.drifted_columns else "")))
    missing = [c for c in inputs or [] if c not in cur_x.columns]
    predictions: dict[str, np.ndarray] = {}
    if not policy.predictions:
        signals.append(Signal("prediction_drift", False, None, "", "not watched "
                              "(monitor.predictions is false)"))
    elif missing:
        signals.append(Signal("prediction_drift", False, None, "", (
            f"not checked: the model takes {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}, which the production data lacks; declare "
            "monitor.features (module:function) to make them from raw rows")))
    else:
        from workbench.promotion.score_child import predict_elsewhere

        try:
            predictions = predict_elsewhere(uri, {"reference": _drop(ref_x, target),
                                                  "current": _drop(cur_x, target)}, root)
        except ConfigError as exc:  # the other signals still count; this one says why not
            signals.append(Signal("prediction_drift", False, None, "", f"not checked: {exc}"))
        else:
            signals.append(prediction_signal(predictions["reference"], predictions["current"]))
    if predictions and cur_truth is not None:
        signals.append(performance_signal(
            policy.performance, cur_truth[0], predictions["current"][cur_truth[1]],
            reference_score, ref[target].to_numpy() if target in ref.columns else None,
            predictions["reference"]))
    elif policy.performance is not None:
        why = ("no labels: the production data has no target column "
               f"{target!r}" if target else "no target column is known (set target: in the spec)")
        if predictions and labels is None and policy.key is None:
            why += "; give labels that arrive later with --labels and monitor.key"
        signals.append(Signal("performance", False, None, _bounds(policy.performance),
                              "not checked: " + why if predictions else
                              "not checked: the champion could not score the production data"))
    return Watched(signals, predictions)


def prediction_signal(reference: np.ndarray, current: np.ndarray) -> Signal:
    """Does the distribution of the champion's predictions move? Evidently's test for one
    column (numbers: K-S or Wasserstein; labels: chi-square, Z or Jensen-Shannon)."""
    import pandas as pd

    from workbench.monitoring.api import drift

    found = drift(pd.DataFrame({"prediction": reference}),
                  pd.DataFrame({"prediction": current}), drift_share=1.0, engine="dask",
                  column_types={"prediction": "categorical" if reference.dtype.kind in "OUSb"
                                else "numerical"})
    column = found.columns["prediction"]
    fires_at = "<=" if column.stattest == "ks" else \
        "<" if column.stattest in ("z", "chisquare") else ">="
    return Signal("prediction_drift", column.drifted, column.score,
                  f"{column.method} {fires_at} {column.threshold:g}",
                  f"predictions {'drifted' if column.drifted else 'hold'}: mean "
                  f"{_mean(reference)} on the training data, {_mean(current)} on production "
                  f"data ({len(current):,} rows)")


def performance_signal(policy: PerformancePolicy | None, truth: np.ndarray,
                       predicted: np.ndarray, reference_score: Any,
                       reference_truth: np.ndarray | None,
                       reference_predicted: np.ndarray) -> Signal:
    from workbench.metric_names import DIRECTIONS, score_name
    from workbench.promotion.scoring import compute

    metric = score_name(policy.metric) if policy else _default_metric(truth, predicted)
    assert metric is not None
    value = compute(metric, truth, predicted)
    reference = None
    if isinstance(reference_score, (int, float)):
        reference = float(reference_score)
    elif reference_truth is not None:
        reference = compute(metric, reference_truth, reference_predicted)
    higher = DIRECTIONS[metric] == "max"
    fired, why = False, list[str]()
    if policy is not None:
        if policy.min is not None and value < policy.min:
            fired, why = True, [*why, f"below the minimum {policy.min:g}"]
        if policy.max is not None and value > policy.max:
            fired, why = True, [*why, f"above the maximum {policy.max:g}"]
        if policy.max_drop is not None and reference is not None:
            worse = (reference - value) if higher else (value - reference)
            if worse > policy.max_drop:
                fired, why = True, [*why, f"{worse:.4g} worse than the reference "
                                          f"{reference:.4g} (max_drop {policy.max_drop:g})"]
    seen = f"{metric} {value:.4g} on {len(truth):,} labelled production rows" + (
        f" (reference {reference:.4g})" if reference is not None else "")
    return Signal("performance", fired, value, _bounds(policy) if policy else "not declared",
                  seen + (": " + "; ".join(why) if why else ""))


def _bounds(policy: PerformancePolicy) -> str:
    parts = [f"{policy.metric} < {policy.min:g}" if policy.min is not None else "",
             f"{policy.metric} > {policy.max:g}" if policy.max is not None else "",
             f"drop > {policy.max_drop:g}" if policy.max_drop is not None else ""]
    return " or ".join(p for p in parts if p)


def _default_metric(truth: np.ndarray, predicted: np.ndarray) -> str:
    labels = set(np.unique(truth).tolist())
    if labels <= {0, 1} and predicted.dtype.kind == "f":
        return "auc"
    if predicted.dtype.kind in "fc" and len(labels) > 20:
        return "rmse"
    return "accuracy"


def _mean(values: np.ndarray) -> str:
    return f"{float(np.mean(values)):.4g}" if values.dtype.kind in "iufb" and len(values) else "-"


def side_frame(data: Any, label: str, seed: int, rows: int = SCORE_ROWS) -> pd.DataFrame:
    """One side as pandas: all of it, or a seeded sample of `rows` rows."""
    from workbench.monitoring.tables import open_table

    table = open_table(data, label)
    if table.in_memory:
        frame = table.frame
    else:
        total = table.rows() if table.file_bytes is None or table.file_bytes > 512 << 20 \
            else None
        frame = table.frame.compute() if total is None else \
            table.sample(table.columns, rows, seed, total)
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def feature_step(spec: str, root: Path) -> Any:
    from workbench.pipelines.steps import _project_module

    module_name, _, name = spec.partition(":")
    try:
        fn = getattr(_project_module(module_name, root), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"monitor.features {spec!r} cannot be loaded ({exc}); fix the "
                          "pipeline spec") from None
    return fn


def _featured(make: Any, frame: pd.DataFrame, label: str) -> pd.DataFrame:
    import pandas as pd

    try:
        made = make(frame.copy())
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"monitor.features failed on the {label} data ({first[:200]}); "
                          "fix the feature step") from None
    if not isinstance(made, pd.DataFrame) or len(made) != len(frame):
        raise ConfigError(f"monitor.features must return a DataFrame with one row per input "
                          f"row; on the {label} data it returned {type(made).__name__}")
    return made.reset_index(drop=True)


def _drop(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    return frame.drop(columns=[column]) if column and column in frame.columns else frame


def _labels(current: pd.DataFrame, target: str | None, labels: Any, key: str | None
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """(known labels, positions of their rows in `current`), or None when none is known."""
    if target is None:
        return None
    if labels is not None:
        if key is None:
            raise ConfigError("labels that arrive later need the column that joins them: set "
                              "monitor.key in the pipeline spec")
        found = side_frame(labels, "labels", 0, rows=10_000_000)
        for frame, label in ((found, "labels"), (current, "production")):
            if key not in frame.columns:
                raise ConfigError(f"the {label} data has no column {key!r} (monitor.key); "
                                  "fix the spec or the data")
        if target not in found.columns:
            raise ConfigError(f"the labels data has no column {target!r} (the target)")
        by_key = found.dropna(subset=[target]).drop_duplicates(key, keep="last") \
            .set_index(key)[target]
        joined = current[key].map(by_key)
    elif target in current.columns:
        joined = current[target]
    else:
        return None
    known = joined.notna().to_numpy()
    if not known.any():
        return None
    return joined.to_numpy()[known], np.flatnonzero(known)
