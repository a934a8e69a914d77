"""Which columns a model's drift check compares: its features, never ids, dates or the target.

The candidates are the spec's `drift.columns` when given, else the model's input columns (its
MLflow signature) when the data has them, else every column both sides share: a model trained
on engineered features (one-hot columns, a weekday) is watched on the raw columns of its
training data, which is what production data holds. `drift.exclude` and the target are left
out here; `wb.drift` itself leaves out row ids, id-like strings and dates. Every column left out
is named with why, in the result's `skipped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.monitoring.tables import Table, open_table

if TYPE_CHECKING:
    from workbench.monitoring.result import DriftResult


@dataclass
class FeatureChoice:
    columns: list[str]
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why
    basis: str = "all shared columns"
    engineered: list[str] = field(default_factory=list)  # model inputs the raw data lacks


def choose_features(reference: Any, current: Any, *, model_inputs: Sequence[str] | None = None,
                    columns: Sequence[str] | None = None, exclude: Sequence[str] = (),
                    target: str | None = None, model: str = "the model") -> FeatureChoice:
    """The columns to compare, and each column left out with why."""
    ref, cur = open_table(reference, "reference"), open_table(current, "current")
    shared = [c for c in ref.columns if c in cur.columns]
    known = set(ref.columns) | set(cur.columns)
    unknown = [c for c in [*(columns or []), *exclude] if c not in known]
    if unknown:
        raise ConfigError(f"drift.columns/exclude name {', '.join(unknown)}, which neither the "
                          f"reference nor the current data has; fix the pipeline spec")
    engineered: list[str] = []
    if columns:
        _require(columns, ref, cur, "drift.columns names")
        chosen, basis, explicit = list(dict.fromkeys(columns)), "drift.columns", True
    elif model_inputs and all(c in ref.columns for c in model_inputs):
        _require(model_inputs, ref, cur, f"{model} takes")
        chosen, basis, explicit = list(dict.fromkeys(model_inputs)), \
            f"the input columns of {model}", False
    elif model_inputs:  # engineered inputs: watch the raw columns the model was made from
        engineered = [c for c in model_inputs if c not in ref.columns]
        chosen, basis, explicit = shared, f"the raw columns of {model}'s training data", False
    else:
        chosen, basis, explicit = shared, "all shared columns", False
    outside = "not in drift.columns" if explicit else f"not an input of {model}"
    left_out = {c: outside for c in shared if c not in chosen}
    for column in exclude:
        if column in chosen:
            left_out[column] = "excluded by drift.exclude"
    if target and target in chosen:
        left_out[target] = "the target"
    kept = [c for c in chosen if c not in left_out]
    if not kept:
        why = "; ".join(f"{c}: {w}" for c, w in left_out.items())
        raise ConfigError(f"no feature column is left to compare ({why}); name them in "
                          "drift.columns of the pipeline spec")
    return FeatureChoice(kept, {c: left_out[c] for c in [*ref.columns, *cur.columns]
                                if c in left_out}, basis, engineered)


def feature_drift(reference: Any, current: Any, choice: FeatureChoice, **options: Any
                  ) -> DriftResult:
    """`wb.drift` on the chosen columns; the columns left out appear in `skipped`."""
    from workbench.monitoring.api import drift

    result = drift(reference, current, columns=choice.columns, **options)
    result.skipped = {**{c: f"not a feature: {why}" for c, why in choice.left_out.items()},
                      **result.skipped}
    return result


def _require(names: Sequence[str], ref: Table, cur: Table, what: str) -> None:
    for table in (ref, cur):
        missing = [c for c in names if c not in table.columns]
        if missing:
            raise ConfigError(f"{what} column(s) {', '.join(missing)}, which the {table.label} "
                              f"data ({table.source}) lacks; add them or fix drift.columns")
