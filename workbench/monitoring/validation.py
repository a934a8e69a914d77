"""Data validation beside drift: is `current` still the data the model was trained on?

Checks, each pass/fail: the schema (every reference column present, same type family), the null
share of each column, categories the reference never had, and numeric values outside the
reference's range. Computed from the same streamed statistics as drift, so any size works.
This is the data gate promotion uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from workbench.monitoring import stats
from workbench.monitoring.tables import open_table


@dataclass(frozen=True)
class Check:
    name: str  # schema, type, null_share, new_categories, value_range
    column: str | None
    passed: bool
    detail: str
    observed: float | None = None
    limit: float | None = None


@dataclass
class ValidationResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.checks])

    def summary(self) -> str:
        if self.passed:
            return f"validation passed: {len(self.checks)} checks"
        shown = "; ".join(f"{c.name}{f'[{c.column}]' if c.column else ''}: {c.detail}"
                          for c in self.failed[:5])
        return f"validation failed: {len(self.failed)} of {len(self.checks)} checks ({shown})"

    def __repr__(self) -> str:
        return f"<ValidationResult {self.summary()}>"


def validate(reference: Any, current: Any, *, columns: Iterable[str] | None = None,
             null_share_tolerance: float = 0.05, new_category_tolerance: float = 0.0,
             out_of_range_tolerance: float = 0.01, seed: int = 0) -> ValidationResult:
    """Check `current` against `reference`; tolerances are shares of the current rows."""
    from workbench.monitoring.api import cluster_for, row_count, small_files
    from workbench.monitoring.dask_engine import column_bins, column_stats

    ref, cur = open_table(reference, "reference"), open_table(current, "current")
    if isinstance(columns, str):
        columns = [columns]
    wanted = list(dict.fromkeys(columns)) if columns is not None else ref.columns
    result = ValidationResult()
    missing = [c for c in wanted if c not in cur.columns]
    extra = [c for c in cur.columns if c not in ref.columns]
    unknown = [c for c in wanted if c not in ref.columns]
    detail = "same columns"
    if missing or unknown:
        detail = "; ".join(p for p in (
            f"missing in current: {', '.join(missing)}" if missing else "",
            f"missing in reference: {', '.join(unknown)}" if unknown else "") if p)
    elif extra:
        detail = f"current has extra columns (ignored): {', '.join(extra)}"
    result.checks.append(Check("schema", None, not (missing or unknown), detail,
                               float(len(missing) + len(unknown)), 0.0))
    shared = [c for c in wanted if c in cur.columns and c in ref.columns]
    if not shared:
        return result
    if small_files(ref, cur):
        ref, cur = ref.loaded(), cur.loaded()  # small files need no cluster (a promotion gate)
    client = cluster_for(ref, cur)
    ref_stats, cur_stats = column_stats([ref, cur], shared, seed, client)
    row_count(ref, ref_stats)
    cur_rows = row_count(cur, cur_stats)
    ranged = {}
    for column in shared:
        r, c = ref_stats[column], cur_stats[column]
        same = r.family == c.family  # Int64 vs int64 is the same; numbers vs strings is not
        result.checks.append(Check("type", column, same,
                                   f"{r.dtype} in reference, {c.dtype} in current"))
        if not same:
            continue
        ref_null = r.nulls / max(r.n + r.nulls, 1)
        cur_null = c.nulls / max(c.n + c.nulls, 1)
        limit = ref_null + null_share_tolerance
        result.checks.append(Check("null_share", column, cur_null <= limit,
                                   f"{cur_null:.1%} null in current, {ref_null:.1%} in reference",
                                   cur_null, limit))
        if c.n == 0 or r.n == 0:
            continue
        few_values = c.distinct is not None and c.distinct <= stats.INTEGER_CARDINALITY_LIMIT
        if c.family == "number" and (c.kind == "float" or not few_values):
            ranged[column] = ("bins", np.array([r.minimum, np.nextafter(r.maximum, np.inf)]), 0.0)
        elif r.counts is not None and c.counts is not None:
            new = {k: v for k, v in c.counts.items() if k not in r.counts}
            share = sum(new.values()) / cur_rows
            names = ", ".join(repr(k) for k in sorted(new, key=lambda k: -new[k])[:5])
            result.checks.append(Check(
                "new_categories", column, share <= new_category_tolerance,
                f"{len(new)} categories not in reference ({share:.1%} of rows)"
                + (f": {names}" if new else ""), share, new_category_tolerance))
    for column, (counts, _sums) in column_bins([(cur, ranged)], client)[0].items():
        r = ref_stats[column]
        share = float(counts[0] + counts[2]) / cur_rows  # below the reference min, above its max
        result.checks.append(Check(
            "value_range", column, share <= out_of_range_tolerance,
            f"{share:.2%} of current values outside the reference range "
            f"[{r.minimum:g}, {r.maximum:g}]", share, out_of_range_tolerance))
    return result

