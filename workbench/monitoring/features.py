"""Which columns a model's drift check compares: its features, never ids, dates or the target.

The candidates are the spec's `drift.columns` when given, else the model's input columns (its
MLflow signature), else every column both sides share; `drift.exclude` and the target are left
out, and so are columns that are a row id (unique in every row of the reference) or a date
(datetime-typed, or text holding dates), except those `drift.columns` names. Every column left
out is named with why, in the result's `skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.monitoring.tables import Table, open_table

if TYPE_CHECKING:
    from workbench.monitoring.result import DriftResult

ID_MIN_ROWS = 50  # below this many rows, being unique says nothing about a column
DATE_SAMPLE = 200  # text values looked at to call a column a date
DATE_TEXT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
                       r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")


@dataclass
class FeatureChoice:
    columns: list[str]
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why
    basis: str = "all shared columns"


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
    if columns:
        _require(columns, ref, cur, "drift.columns names")
        chosen, basis, explicit = list(dict.fromkeys(columns)), "drift.columns", True
    elif model_inputs:
        _require(model_inputs, ref, cur, f"{model} takes")
        chosen, basis, explicit = list(dict.fromkeys(model_inputs)), \
            f"the input columns of {model}", False
    else:
        chosen, basis, explicit = shared, "all shared columns", False
    outside = "not in drift.columns" if explicit else f"not an input of {model}"
    left_out = {c: outside for c in shared if c not in chosen}
    for column in exclude:
        if column in chosen:
            left_out[column] = "excluded by drift.exclude"
    if target and target in chosen:
        left_out[target] = "the target"
    remaining = [c for c in chosen if c not in left_out]
    if not explicit:
        left_out.update(_ids_and_dates(ref, remaining))
    kept = [c for c in chosen if c not in left_out]
    if not kept:
        why = "; ".join(f"{c}: {w}" for c, w in left_out.items())
        raise ConfigError(f"no feature column is left to compare ({why}); name them in "
                          "drift.columns of the pipeline spec")
    return FeatureChoice(kept, {c: left_out[c] for c in [*ref.columns, *cur.columns]
                                if c in left_out}, basis)


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


def _ids_and_dates(ref: Table, columns: list[str]) -> dict[str, str]:
    """Row ids and dates among `columns`, from the reference (the training data)."""
    import pandas as pd
    from pandas.api import types

    from workbench.monitoring.api import AUTO_LOCAL_FILE_BYTES

    if not columns:
        return {}
    if ref.file_bytes is not None and ref.file_bytes <= AUTO_LOCAL_FILE_BYTES:
        ref = ref.loaded()
    found: dict[str, str] = {}
    texts, integers = [], []
    for column in columns:
        dtype = ref.dtype(column)
        if types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            found[column] = "a date (datetime-typed)"
        elif types.is_integer_dtype(dtype) and not types.is_bool_dtype(dtype):
            integers.append(column)
        elif types.is_object_dtype(dtype) or types.is_string_dtype(dtype) or \
                isinstance(dtype, pd.CategoricalDtype):
            texts.append(column)
    if texts:
        head = ref.frame[texts].head(DATE_SAMPLE * 5)
        for column in texts:
            values = head[column].dropna().astype(str).head(DATE_SAMPLE)
            if len(values) and values.map(lambda v: bool(DATE_TEXT.match(v))).all():
                found[column] = "a date (text holding dates)"
    candidates = [*integers, *(c for c in texts if c not in found)]
    rows, distinct = _distinct_counts(ref, candidates)
    for column in candidates:
        # exact for pandas; dask's HyperLogLog count is within ~2%
        if rows >= ID_MIN_ROWS and distinct[column] >= (rows if ref.in_memory else 0.98 * rows):
            found[column] = "a row id (unique in every row)"
    return found


def _distinct_counts(ref: Table, columns: list[str]) -> tuple[int, dict[str, float]]:
    if not columns:
        return 0, {}
    if ref.in_memory:
        frame = ref.frame
        return len(frame), {c: float(frame[c].nunique(dropna=False)) for c in columns}
    import dask

    counted = dask.compute(ref.frame.shape[0], *(ref.frame[c].nunique_approx() for c in columns))
    return int(counted[0]), {c: float(v) for c, v in zip(columns, counted[1:], strict=True)}
