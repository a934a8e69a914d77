"""The streaming drift engine: per-partition statistics, merged; one pass, two where needed.

Pass 1 reduces every partition of both tables to `ColumnStats` (counts, moments, value counts,
a seeded sample, and for a numeric column whose range is known before reading, its grid: enough
for Wasserstein). Pass 2, only for columns that still need it, counts values in bins: current
values at each reference value for K-S, counts and sums in quantile bins for Wasserstein where
no grid was possible. pandas tables are reduced in this process, chunk by chunk; dask tables and
paths on the cluster, where a partition (for a path: a piece of a file, read with Arrow) is
read, reduced and dropped, so a table larger than the workers' memory works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.monitoring import stats
from workbench.monitoring.tables import Piece, Table, partitions, read_piece

if TYPE_CHECKING:
    from distributed import Client

FAN_IN = 16  # partition results merged per task of the tree reduction


def column_stats(tables: Sequence[Table], columns: list[str], seed: int,
                 client: Client | None,
                 grids: dict[str, tuple[float, float]] | None = None
                 ) -> list[dict[str, stats.ColumnStats]]:
    """Pass 1: merged statistics of each column, per table (tables reduced side by side);
    numeric columns in `grids` are put on the grid over their (low, high) too."""

    def combine(results: Sequence[dict[str, stats.ColumnStats]]) -> dict[str, stats.ColumnStats]:
        return _merge_stats(results, columns, seed)

    work = []
    for table in tables:
        parts = partitions(table, columns)
        keep = stats.sample_size(len(parts))
        work.append([(partition_stats, (part, columns, seed, i, keep, grids))
                     for i, part in enumerate(parts)])
    return _run(tables, work, combine, client)


def partition_stats(part: Any, columns: list[str], seed: int, index: int, keep: int,
                    grids: dict[str, tuple[float, float]] | None) -> dict[str, stats.ColumnStats]:
    """One partition's statistics: a pandas frame as it is, a path's piece read with Arrow."""
    if isinstance(part, Piece):
        part = read_piece(part, columns)
        if hasattr(part, "schema"):
            return stats.arrow_stats(part, columns, seed, index, keep, grids)
    return stats.partition_stats(part, columns, seed, index, keep, grids)


def _merge_stats(results: Sequence[dict[str, stats.ColumnStats]], columns: list[str],
                 seed: int) -> dict[str, stats.ColumnStats]:
    return {c: stats.merge([r[c] for r in results], seed) for c in columns}


BinSpec = tuple[str, np.ndarray, float]  # ("points" | "bins", edges, shift)
Bins = dict[str, tuple[np.ndarray, ...]]


def partition_bins(frame: Any, specs: dict[str, BinSpec]) -> dict[str, tuple[np.ndarray, ...]]:
    if isinstance(frame, Piece):
        frame = read_piece(frame, list(specs))
    arrow = hasattr(frame, "schema")
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for column, (mode, edges, shift) in specs.items():
        values = (frame.column(column).to_numpy().astype(np.float64, copy=False) if arrow else
                  frame[column].to_numpy(dtype=np.float64, na_value=np.nan))
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
