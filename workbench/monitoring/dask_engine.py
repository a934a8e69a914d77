"""The streaming drift engine: two passes of per-partition statistics, merged.

Pass 1 reduces every partition of both tables to `ColumnStats` (counts, moments, value counts,
a seeded sample). Pass 2, only for columns that need it, counts values in bins: current values
at each reference value for K-S, counts and sums in fine quantile bins for Wasserstein. pandas
tables are reduced in this process, chunk by chunk; dask tables (and paths) on the cluster, where
a partition is read, reduced and dropped, so a table larger than the workers' memory works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.monitoring import stats
from workbench.monitoring.tables import Table, partitions

if TYPE_CHECKING:
    from distributed import Client

FAN_IN = 16  # partition results merged per task of the tree reduction


def column_stats(tables: Sequence[Table], columns: list[str], seed: int,
                 client: Client | None) -> list[dict[str, stats.ColumnStats]]:
    """Pass 1: merged statistics of each column, per table (tables reduced side by side)."""

    def combine(results: Sequence[dict[str, stats.ColumnStats]]) -> dict[str, stats.ColumnStats]:
        return _merge_stats(results, columns, seed)

    work = []
    for table in tables:
        parts = partitions(table, columns)
        keep = stats.sample_size(len(parts))
        work.append([(stats.partition_stats, (part, columns, seed, i, keep))
                     for i, part in enumerate(parts)])
    return _run(tables, work, combine, client)


def _merge_stats(results: Sequence[dict[str, stats.ColumnStats]], columns: list[str],
                 seed: int) -> dict[str, stats.ColumnStats]:
    return {c: stats.merge([r[c] for r in results], seed) for c in columns}


BinSpec = tuple[str, np.ndarray, float]  # ("points" | "bins", edges, shift)
Bins = dict[str, tuple[np.ndarray, ...]]


def partition_bins(frame: Any, specs: dict[str, BinSpec]) -> dict[str, tuple[np.ndarray, ...]]:
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for column, (mode, edges, shift) in specs.items():
        values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        if mode == "points":  # values < and <= each point
            out[column] = stats.counts_at(values, edges)
        else:
            out[column] = stats.bin_counts(values, edges, shift)
    return out


def _sum_bins(results: Sequence[Bins]) -> Bins:
    out: Bins = {}
    for result in results:
        for column, arrays in result.items():
            if column in out:
                out[column] = tuple(a + b for a, b in zip(out[column], arrays, strict=True))
            else:
                out[column] = arrays
    return out


def column_bins(jobs: Sequence[tuple[Table, dict[str, BinSpec]]],
                client: Client | None) -> list[Bins]:
    """Pass 2: bin counts (and sums) of the columns in each table's specs, over partitions."""
    import dask

    wanted = [(table, specs) for table, specs in jobs if specs]
    work = []
    for table, specs in wanted:
        # on a cluster the edges travel once per table, not once per partition
        shipped = specs if table.kind == "pandas" else dask.delayed(specs, pure=True)
        work.append([(partition_bins, (part, shipped))
                     for part in partitions(table, list(specs))])
    found = iter(_run([table for table, _ in wanted], work, _sum_bins, client))
    return [next(found) if specs else {} for _, specs in jobs]


Task = tuple[Callable[..., Any], tuple[Any, ...]]


def _run(tables: Sequence[Table], work: Sequence[list[Task]],
         combine: Callable[[Sequence[Any]], Any], client: Client | None) -> list[Any]:
    """Run each table's partition tasks and combine the results: pandas tables here, dask ones
    tree-reduced on the workers, all tables in one go so no worker idles between them."""
    import dask

    out: dict[int, Any] = {}
    pending = {}
    for index, (table, tasks) in enumerate(zip(tables, work, strict=True)):
        if table.kind == "pandas":
            out[index] = combine([fn(*args) for fn, args in tasks])
            continue
        if client is None:
            raise RuntimeError("the dask engine needs a cluster for dask tables")
        if not tasks:
            raise ValueError(f"the {table.label} table has no partitions")
        delayed = [dask.delayed(fn)(*args) for fn, args in tasks]
        while True:  # at least one combine, so a single partition is combined too
            delayed = [dask.delayed(combine)(delayed[i:i + FAN_IN])
                       for i in range(0, len(delayed), FAN_IN)]
            if len(delayed) == 1:
                break
        pending[index] = delayed[0]
    if pending:
        assert client is not None
        values = client.gather(client.compute(list(pending.values())))
        out.update(zip(pending, values, strict=True))
    return [out[i] for i in range(len(tables))]
