"""`wb.drift`: type the columns, pick the tests, score them with Evidently or the dask engine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import ConfigError
from workbench.monitoring import stats
from workbench.monitoring.result import ColumnDrift, DriftResult
from workbench.monitoring.tables import Table, open_table

if TYPE_CHECKING:
    from distributed import Client

ENGINES = ("auto", "evidently", "dask")
AUTO_EVIDENTLY_MAX_ROWS = 50_000  # reference + current rows, both pandas, for engine="auto"
LOCAL_FILE_BYTES = 256 << 20  # files up to this (both sides) are read in this process...
LOCAL_MEMORY_SHARE = 1 / 16  # ...when they are also under this share of the memory available
REPORT_SAMPLE_ROWS = 20_000  # rows per side in the HTML report of the dask engine
COLUMN_TYPES = ("numerical", "categorical", "skip")


def drift(reference: Any, current: Any, *, columns: Iterable[str] | None = None,
          engine: str = "auto", column_types: Mapping[str, str] | None = None,
          drift_share: float = 0.5, seed: int = 0,
          report_sample_rows: int = REPORT_SAMPLE_ROWS, target: str | None = None,
          prediction: str | None = None, performance_metric: str | None = None,
          performance_tolerance: float = 0.05) -> DriftResult:
    """Compare `current` with `reference` column by column, as Evidently's DataDriftPreset does.

    `reference` / `current`: pandas or dask DataFrames, or Parquet/CSV files or directories.
    `engine`: "evidently" runs Evidently; "dask" computes the same tests from streamed
    statistics (any size); "auto" takes Evidently for small in-memory data.
    Not features, so never tested: row ids (unique in every row), id-like strings (more than
    1,000 distinct values), dates and timestamps (typed, or text holding them), and the
    `target` and `prediction` columns; `result.skipped` names each with why.
    `column_types`: override the inferred type of a column ("numerical", "categorical", or
    "skip"); a column typed here is tested even when it looks like an id or a date.
    `target` and `prediction` (both present on both sides): also compare the model's metric on
    reference vs current (`result.performance`, concept drift).
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not 0 < drift_share <= 1:
        raise ConfigError(f"drift_share must be in (0, 1], got {drift_share}")
    ref, cur = open_table(reference, "reference"), open_table(current, "current")
    names = shared_columns(ref, cur, columns)
    overrides = _check_overrides(column_types, names)
    if small_files(ref, cur):
        ref, cur = ref.loaded(), cur.loaded()  # read here with Arrow: no cluster to start
    chosen = _pick_engine(engine, ref, cur)
    if chosen == "evidently":
        ref, cur = ref.loaded(), cur.loaded()  # Evidently works on pandas
    client = cluster_for(ref, cur)
    from workbench.monitoring.dask_engine import column_stats

    # one pass: each grid's range comes from the footers or the frames in memory
    grids = shared_ranges(ref, cur, names) if chosen == "dask" else {}
    ref_stats, cur_stats = column_stats([ref, cur], names, seed, client, grids)
    ref_rows, cur_rows = row_count(ref, ref_stats), row_count(cur, cur_stats)
    roles = {c: why for c, why in ((target, "the target"), (prediction, "the prediction"))
             if c is not None}
    plans, skipped = plan_columns(names, ref_stats, cur_stats, overrides, chosen, roles)
    result = DriftResult(columns={}, skipped=skipped, drift_share=drift_share,
                         engine=chosen, reference_rows=ref_rows, current_rows=cur_rows,
                         reference_source=ref.source, current_source=cur.source)
    if chosen == "evidently":
        result.columns, snapshot = _evidently(ref, cur, plans, drift_share)
    else:
        result.columns = _streaming(ref, cur, plans, ref_stats, cur_stats, client)
    if chosen == "evidently":
        from workbench.monitoring.evidently_engine import report_html

        result._render = lambda: report_html(snapshot)
    else:
        result._render = lambda: _sampled_report(result, ref, cur, plans, seed,
                                                 report_sample_rows, client)
    if target is not None and prediction is not None:
        from workbench.monitoring.performance import performance_drift

        result.performance = performance_drift(ref.frame if ref.in_memory else reference,
                                               cur.frame if cur.in_memory else current,
                                               target=target, prediction=prediction,
                                               metric=performance_metric,
                                               tolerance=performance_tolerance)
    return result


def shared_columns(ref: Table, cur: Table, columns: Iterable[str] | None) -> list[str]:
    for table in (ref, cur):
        odd = [repr(c) for c in table.labels if not isinstance(c, str)]
        if odd:
            raise ConfigError(f"{table.label} has column names that are not strings "
                              f"({', '.join(odd[:5])}); name them, e.g. "
                              "frame.columns = frame.columns.astype(str)")
    if columns is not None:
        names = list(dict.fromkeys([columns] if isinstance(columns, str) else columns))
        for table in (ref, cur):
            missing = [c for c in names if c not in table.columns]
            if missing:
                raise ConfigError(f"{table.label} has no column(s) {', '.join(missing)}; "
                                  f"its columns: {_shown(table.columns)}")
        if not names:
            raise ConfigError("columns is empty; name at least one column or pass None")
        return names
    only_ref = [c for c in ref.columns if c not in cur.columns]
    only_cur = [c for c in cur.columns if c not in ref.columns]
    if only_ref or only_cur:
        parts = []
        if only_ref:
            parts.append(f"only in reference: {_shown(only_ref)}")
        if only_cur:
            parts.append(f"only in current: {_shown(only_cur)}")
        raise ConfigError(f"reference and current have different columns ({'; '.join(parts)}); "
                          "align them or pass columns=[...] to compare the shared ones")
    return ref.columns


def _shown(names: list[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit
                                       else "")


def _check_overrides(column_types: Mapping[str, str] | None, names: list[str]) -> dict[str, str]:
    overrides = dict(column_types or {})
    for column, kind in overrides.items():
        if column not in names:
            raise ConfigError(f"column_types names {column!r}, which is not compared; "
                              f"columns: {_shown(names)}")
        if kind not in COLUMN_TYPES:
            raise ConfigError(f"column_types[{column!r}] must be one of "
                              f"{', '.join(COLUMN_TYPES)}, got {kind!r}")
    return overrides


def _pick_engine(engine: str, ref: Table, cur: Table) -> str:
    if engine != "auto":
        return engine
    small = ref.in_memory and cur.in_memory and ref.rows() + cur.rows() <= AUTO_EVIDENTLY_MAX_ROWS
    return "evidently" if small else "dask"


def small_files(*tables: Table) -> bool:
    """Whether the tables are read into this process (never a cluster): pandas already is;
    files are when together they are under LOCAL_FILE_BYTES and a share of the free memory
    (in memory, a CSV's strings take several times their bytes on disk)."""
    on_disk = 0
    for table in tables:
        if table.in_memory:
            continue
        if table.file_bytes is None:
            return False  # a dask DataFrame stays where it is
        on_disk += table.file_bytes
    return on_disk <= min(LOCAL_FILE_BYTES, _available_memory() * LOCAL_MEMORY_SHARE)


def _available_memory() -> float:
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except Exception:  # no psutil, or no answer: assume a small machine
        return float(2 << 30)


def cluster_for(ref: Table, cur: Table) -> Client | None:
    if ref.in_memory and cur.in_memory:
        return None  # pandas data is reduced where it already is
    from workbench.dask_cluster import cluster

    return cluster()


def shared_ranges(ref: Table, cur: Table, columns: list[str]) -> dict[str, tuple[float, float]]:
    """The range of each numeric column over both tables where both know it before reading:
    the grid its Wasserstein distance is computed on in the one pass."""
    ranges = [table.ranges(columns) for table in (ref, cur)]
    out = {}
    for column, (low, high) in ranges[0].items():
        if column in ranges[1]:
            low, high = min(low, ranges[1][column][0]), max(high, ranges[1][column][1])
            if high > low and np.isfinite(high - low):
                out[column] = (low, high)
    return out


def row_count(table: Table, found: dict[str, stats.ColumnStats]) -> int:
    rows = max((s.n + s.nulls for s in found.values()), default=0)
    if rows == 0:
        raise ConfigError(f"{table.label} data has no rows ({table.source}); a drift check needs "
                          "data on both sides")
    return rows


def plan_columns(names: list[str], ref_stats: Mapping[str, stats.ColumnStats],
                 cur_stats: Mapping[str, stats.ColumnStats], overrides: Mapping[str, str],
                 engine: str = "dask", roles: Mapping[str, str] | None = None
                 ) -> tuple[list[stats.ColumnPlan], dict[str, str]]:
    """The test of each column, or why it is skipped; raises on a type mismatch."""
    plans, skipped = [], {}
    for column in names:
        ref, cur = ref_stats[column], cur_stats[column]
        override = overrides.get(column)
        if override == "skip":
            skipped[column] = "skipped by column_types"
            continue
        if roles and column in roles:
            skipped[column] = roles[column]
            continue
        _check_same_type(column, ref, cur)
        why = None if override else stats.left_out(ref, cur)
        if why is not None:
            skipped[column] = why
            continue
        if override == "numerical" and cur.family != "number":
            raise ConfigError(f"column {column!r} holds {cur.dtype} values, which cannot be "
                              "numerical; cast it or mark it categorical")
        empty = [label for label, s in (("reference", ref), ("current", cur)) if s.n == 0]
        if empty:
            skipped[column] = f"all values are null or infinite in {' and '.join(empty)}"
            continue
        kind = override or stats.infer_type(cur)
        if kind not in ("numerical", "categorical"):
            skipped[column] = str(kind)
            continue
        plan = stats.plan_column(column, kind, ref, cur)  # type: ignore[arg-type]
        needs_counts = plan.stattest in ("z", "chisquare", "jensenshannon")
        # The streaming engine counts values exactly up to a cap; past it only a Jensen-Shannon
        # reference can still be counted (at the current's values, in the second pass).
        if engine == "dask" and needs_counts and (cur.counts is None or (ref.counts is None
                                                  and plan.stattest != "jensenshannon")):
            cap = stats.NUMERIC_COUNT_CAP if cur.family == "number" else stats.CATEGORY_CAP
            skipped[column] = (f"too many distinct values to count for a {kind} test (over "
                               f"{cap:,}); mark it numerical, skip it, or use engine='evidently'")
            continue
        plans.append(plan)
    return plans, skipped


def _check_same_type(column: str, ref: stats.ColumnStats, cur: stats.ColumnStats) -> None:
    """Numbers on one side and strings on the other cannot be compared; anything else can
    (Evidently types a column from the current data alone: bool vs int, category vs int)."""
    strings = ("string", "object")
    if not ({ref.family, cur.family} == {"number", "text"}
            and (ref.kind in strings or cur.kind in strings)):
        return
    raise ConfigError(f"column {column!r} is {_described(ref)} in reference but "
                      f"{_described(cur)} in current; cast one side so both hold the same type")


def _described(found: stats.ColumnStats) -> str:
    what = "numeric" if found.family == "number" else "text/categorical"
    return f"{what} ({found.dtype})"


# -- engines --------------------------------------------------------------------------------------
def _evidently(ref: Table, cur: Table, plans: list[stats.ColumnPlan], drift_share: float
               ) -> tuple[dict[str, ColumnDrift], Any]:
    from workbench.monitoring.evidently_engine import column_verdicts, run_report

    names = [p.column for p in plans]
    if not plans:
        return {}, None
    snapshot = run_report(ref.to_pandas(names), cur.to_pandas(names), plans, drift_share)
    verdicts = column_verdicts(snapshot, names)
    by_method = {v: k for k, v in stats.METHODS.items()}
    out = {}
    for plan in plans:
        method, score, threshold, drifted = verdicts[plan.column]
        out[plan.column] = ColumnDrift(plan.column, plan.column_type,
                                       by_method.get(method, method), method, score, threshold,
                                       drifted)
    return out, snapshot


def _streaming(ref: Table, cur: Table, plans: list[stats.ColumnPlan],
               ref_stats: Mapping[str, stats.ColumnStats],
               cur_stats: Mapping[str, stats.ColumnStats],
               client: Client | None) -> dict[str, ColumnDrift]:
    from workbench.monitoring.dask_engine import BinSpec, column_bins

    scores: dict[str, tuple[float, float]] = {}
    ref_specs: dict[str, BinSpec] = {}
    cur_specs: dict[str, BinSpec] = {}
    for plan in plans:
        r, c = ref_stats[plan.column], cur_stats[plan.column]
        if plan.stattest == "jensenshannon" and r.counts is None:
            assert c.counts is not None
            ref_specs[plan.column] = ("points", np.array(sorted(c.counts), dtype=float), 0.0)
        elif plan.stattest in ("z", "chisquare", "jensenshannon"):
            assert r.counts is not None and c.counts is not None
            scores[plan.column] = (stats.counts_test(plan.stattest, r.counts, c.counts), 0.0)
        elif plan.stattest == "ks":
            assert r.sample is not None and len(r.sample) == r.n  # <= 1000 values: all kept
            distinct = np.unique(r.sample)
            if c.sample is not None and len(c.sample) == c.n:  # every current value is at hand
                ordered = np.sort(c.sample)
                scores[plan.column] = (stats.ks_pvalue_from_counts(
                    r.sample, np.searchsorted(ordered, distinct, side="right"),
                    np.searchsorted(ordered, distinct, side="left"), c.n), 0.0)
            else:
                cur_specs[plan.column] = ("points", distinct, 0.0)
        elif r.counts is not None and c.counts is not None:  # few distinct values: exact
            scores[plan.column] = (stats.wasserstein_from_counts(r.counts, c.counts, r.std), 0.0)
        elif (found := _from_grids(r, c, plan.threshold)) is not None:  # the one pass did it
            scores[plan.column] = found
        else:
            edges = stats.wasserstein_edges([r.sample, c.sample])  # type: ignore[list-item]
            spec: BinSpec = ("bins", edges, r.mean)
            ref_specs[plan.column] = cur_specs[plan.column] = spec
    ref_bins, cur_bins = column_bins([(ref, ref_specs), (cur, cur_specs)], client)
    for column, (_, keys, _) in ref_specs.items():
        if column in cur_specs:
            continue  # Wasserstein, below
        below, at_or_below = ref_bins[column]
        at_keys = dict(zip(keys.tolist(), (at_or_below - below).tolist(), strict=True))
        scores[column] = (stats.jensenshannon_at_keys(
            at_keys, ref_stats[column].n, cur_stats[column].counts or {}), 0.0)
    for column, (mode, edges, shift) in cur_specs.items():
        r, c = ref_stats[column], cur_stats[column]
        if mode == "points":
            assert r.sample is not None
            below, at_or_below = cur_bins[column]
            scores[column] = (stats.ks_pvalue_from_counts(r.sample, at_or_below, below, c.n), 0.0)
        else:
            ref_counts, ref_sums = ref_bins[column]
            cur_counts, cur_sums = cur_bins[column]
            scores[column] = stats.wasserstein_from_bins(
                edges, shift, min(r.minimum, c.minimum), max(r.maximum, c.maximum),
                (ref_counts, ref_sums), (cur_counts, cur_sums), r.std)
    out = {}
    for plan in plans:
        score, bound = scores[plan.column]
        out[plan.column] = ColumnDrift(plan.column, plan.column_type, plan.stattest,
                                       stats.METHODS[plan.stattest], score, plan.threshold,
                                       stats.is_drifted(plan.stattest, score, plan.threshold),
                                       score_error_bound=bound)
    return out


def _from_grids(ref: stats.ColumnStats, cur: stats.ColumnStats,
                threshold: float) -> tuple[float, float] | None:
    """Wasserstein from the pass-1 grids, unless there are none or the grid's error bound
    straddles the threshold (then quantile bins in a second pass decide)."""
    ref_grid, cur_grid = stats.grid_of(ref), stats.grid_of(cur)
    if ref_grid is None or cur_grid is None or ref.grid_range != cur.grid_range:
        return None
    score, bound = stats.wasserstein_from_grids(ref_grid, cur_grid, ref.std)
    if score - bound < threshold <= score + bound:
        return None
    return score, bound


def _sampled_report(result: DriftResult, ref: Table, cur: Table,
                    plans: list[stats.ColumnPlan], seed: int, rows: int,
                    client: Client | None) -> str:
    """Evidently's report on a seeded sample, labelled with the full-data verdicts."""
    import html

    from workbench.monitoring.evidently_engine import report_html, run_report

    names = [p.column for p in plans]
    if not names:
        raise ConfigError("no column could be tested, so there is no report; see result.skipped")
    ref_total, cur_total = result.reference_rows, result.current_rows
    ref_sample = ref.sample(names, rows, seed, ref_total, client)
    cur_sample = cur.sample(names, rows, seed, cur_total, client)
    # A sparse column can have no value in a sample; Evidently refuses empty columns.
    shown = [p for p in plans if _has_values(ref_sample[p.column])
             and _has_values(cur_sample[p.column])]
    if not shown:
        raise ConfigError("the report sample holds no values of the tested columns; raise "
                          "report_sample_rows")
    snapshot = run_report(ref_sample, cur_sample, shown, result.drift_share)
    sampled = len(ref_sample) < ref_total or len(cur_sample) < cur_total
    where = (f"a seeded sample (seed {seed}) of {len(ref_sample):,} of {ref_total:,} reference "
             f"rows and {len(cur_sample):,} of {cur_total:,} current rows; its figures can "
             "differ slightly from the full-data verdicts" if sampled else "all rows")
    banner = (
        '<div style="font-family:sans-serif;padding:8px 12px;margin:0;background:#fff4e5;'
        'border-bottom:1px solid #f0c36d">'
        f"<b>Workbench drift check:</b> {html.escape(result.summary())}, computed on all rows. "
        f"Evidently report below built on {html.escape(where)}."
        + (f" Not in the report (no values in the sample): "
           f"{html.escape(', '.join(p.column for p in plans if p not in shown))}."
           if len(shown) < len(plans) else "") + "</div>")
    return report_html(snapshot, banner)



def _has_values(values: Any) -> bool:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return bool(np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan)).any())
    return bool(values.notna().any())
