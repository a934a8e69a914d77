"""Evidently's `DataDriftPreset` defaults, computed from mergeable per-partition statistics.

Pure module: no I/O, no dask. A partition of a table (a pandas DataFrame) is reduced to a
`ColumnStats` per column; partitions merge; from the merged statistics of reference and current
this module infers each column's type, picks the test, and scores it, by the same rules Evidently
0.7 applies (its `infer_column_type`, `_get_default_stattest` and the stat tests themselves):

- values are cleaned per column as Evidently does: +-inf -> NaN, NaNs dropped;
- a column's type comes from the *current* data: float -> numerical; int -> categorical with at most
  10 distinct values, else numerical; bool / category -> categorical; strings -> categorical, or
  text when more than half the values are distinct (text and id-like columns are skipped here);
- the test depends on the cleaned reference size (<= 1000 rows: K-S / chi-square / Z; larger:
  Wasserstein / Jensen-Shannon) and on the number of distinct values in both sides together.

Everything but K-S and Wasserstein is a function of value counts, so exact. K-S needs, for a
reference of at most 1000 values, how many current values fall at or below each of them: exact
from counts. Wasserstein is computed from bin counts and bin sums over fine quantile bins: the
integral of each CDF over a bin is exact from them, so the only error is in bins where the two
CDFs cross, bounded and reported (`score_error_bound`). The bins are a fixed grid of equal cells
over both sides' range when that range is known before reading (Parquet footers, data in memory),
so one pass over the data does; otherwise quantile bins from a sample, in a second pass.

A partition arrives as a pandas DataFrame (`partition_stats`) or, read from a file, as an Arrow
table (`arrow_stats`, which types every column as `Table.to_pandas` would and gives the same
statistics without converting strings and categories to Python objects).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any, Literal

import numpy as np

ColumnType = Literal["numerical", "categorical"]
Stattest = Literal["ks", "z", "chisquare", "jensenshannon", "wasserstein"]

SMALL_REFERENCE_ROWS = 1000  # Evidently: <= this many reference rows -> p-value tests
INTEGER_CARDINALITY_LIMIT = 10  # Evidently: int columns with <= 10 distinct values are categorical
THRESHOLDS: dict[str, float] = {"ks": 0.05, "z": 0.05, "chisquare": 0.05,
                                "jensenshannon": 0.1, "wasserstein": 0.1}
METHODS: dict[str, str] = {"ks": "K-S p_value", "z": "Z-test p_value",
                           "chisquare": "chi-square p_value",
                           "jensenshannon": "Jensen-Shannon distance",
                           "wasserstein": "Wasserstein distance (normed)"}
P_VALUE_TESTS = {"ks", "z", "chisquare"}
NUMERIC_COUNT_CAP = 10_000  # distinct values counted for a numeric column before giving up
CATEGORY_CAP = 100_000  # distinct categories past which a column is treated as an id
ID_MIN_ROWS = 50  # below this many rows, being unique says nothing about a column
ID_SPAN = 10  # a numbering's values span at most this many times its rows
ID_TEXT_DISTINCT = 1_000  # strings with more distinct values than this are ids, not categories
DATE_KEYS = 200  # distinct text values looked at to call a column a date
DATE_TEXT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
                       r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
SAMPLE_PER_PARTITION = 4_096  # numeric values kept per partition (all of them when fewer)
SAMPLE_CAP = 200_000  # numeric values kept per side after merging
WASSERSTEIN_BINS = 16_384
GRID_CELLS = 1 << 15  # equal cells of the one-pass Wasserstein grid over both sides' range
PROBE_VALUES = NUMERIC_COUNT_CAP + 1_000  # values looked at before counting them all


@dataclass
class Grid:
    """A numeric column on equal cells over [low, high]: the values in each cell and the sum of
    their offsets from the cell's start, in cell widths. The integral of the ECDF over a cell is
    exact from the two, whatever the values' spread (no bin edges to pick from a sample)."""

    low: float
    high: float
    counts: np.ndarray  # int64, one per cell
    fill: np.ndarray  # float64: sum over the cell's values of (value - cell start) / width

    @property
    def width(self) -> float:
        return (self.high - self.low) / len(self.counts)

    @classmethod
    def of(cls, values: np.ndarray, low: float, high: float, weights: np.ndarray | None = None,
           cells: int = GRID_CELLS, scratch: Scratch | None = None) -> Grid:
        """The grid of finite `values` (each counted `weights` times, default once)."""
        scratch = scratch or Scratch()
        position = np.subtract(values, low, out=scratch.floats(len(values)))  # in cell widths
        position *= cells / (high - low)
        cell = scratch.ints(len(values))
        np.copyto(cell, position, casting="unsafe")  # truncates, as astype does
        np.clip(cell, 0, cells - 1, out=cell)
        if weights is not None:
            position *= weights
        counts = np.bincount(cell, weights, minlength=cells)
        # sum of (position - cell) per cell, without an array of the differences
        fill = np.bincount(cell, position, minlength=cells) - np.arange(cells) * counts
        return cls(low, high, counts.astype(np.int64), fill)

    def __add__(self, other: Grid) -> Grid:
        return Grid(self.low, self.high, self.counts + other.counts, self.fill + other.fill)


class Scratch:
    """Work arrays reused across the columns of a partition. Dask's workers return freed memory
    to the system at once (MALLOC_TRIM_THRESHOLD_), so every fresh array of a few MB is mapped
    and zeroed anew: reusing these made a partition's statistics 2.5x faster there."""

    def __init__(self) -> None:
        self._floats = np.empty(0)
        self._ints = np.empty(0, dtype=np.int64)
        self._flags = np.empty(0, dtype=bool)
        self._values = np.empty(0)

    def floats(self, n: int) -> np.ndarray:
        if len(self._floats) < n:
            self._floats = np.empty(n)
        return self._floats[:n]

    def ints(self, n: int) -> np.ndarray:
        if len(self._ints) < n:
            self._ints = np.empty(n, dtype=np.int64)
        return self._ints[:n]

    def flags(self, n: int) -> np.ndarray:
        if len(self._flags) < n:
            self._flags = np.empty(n, dtype=bool)
        return self._flags[:n]

    def values(self, n: int) -> np.ndarray:
        """Room for a column's values as float64 (kept apart from the work arrays)."""
        if len(self._values) < n:
            self._values = np.empty(n)
        return self._values[:n]


@dataclass
class ColumnStats:
    """What one partition (or a merge of several) says about one column."""

    kind: str  # Evidently's view of the dtype: float, int, bool, category, string, object, other
    dtype: str
    family: str = "none"  # what the values are: number, bool, text, none (dates, mixed, ...)
    n: int = 0  # values left after cleaning (not null, finite)
    nulls: int = 0  # null or infinite values
    minimum: float = math.inf
    maximum: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Chan et al. merge)
    counts: dict[Any, int] | None = field(default_factory=dict)  # None: too many distinct
    sample: np.ndarray | None = None  # numeric values, all of them while few
    first_is_str: bool | None = None  # object columns: Evidently looks at the first and last value
    last_is_str: bool | None = None
    # integer columns: the (min, max) of each partition whose values strictly rise or fall;
    # None once one does not. Disjoint runs mean every value is unique: a row id, cheaply.
    runs: list[tuple[float, float]] | None = None
    # numeric columns whose range both sides share before reading: [low, high] of the grid, and
    # the grid itself once there are too many distinct values to count (counts is None)
    grid_range: tuple[float, float] | None = None
    grid: Grid | None = None

    @property
    def distinct(self) -> int | None:
        return None if self.counts is None else len(self.counts)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


def dtype_kind(dtype: Any) -> str:
    """How Evidently's inference sees a pandas dtype (by its name, as Evidently does)."""
    name = str(getattr(dtype, "name", dtype))
    if name.startswith("float"):
        return "float"
    if name.startswith("int"):
        return "int"
    if name == "bool":
        return "bool"
    if name == "category":
        return "category"
    if name in ("string", "str") or name.startswith("string"):
        return "string"
    if name == "object":
        return "object"
    return "other"  # uint*, nullable Int64/Float64/boolean, datetimes: Evidently ignores them


def value_family(dtype: Any) -> str:
    """What a dtype's values are, whatever Evidently calls it: nullable and unsigned ints are
    numbers too, so a reference in Int64 still compares with a current in int64."""
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_numeric_dtype(dtype):
        return "number"
    if isinstance(dtype, types.CategoricalDtype) or types.is_string_dtype(dtype) or \
            types.is_object_dtype(dtype):
        return "text"
    return "none"


def sample_size(partitions: int) -> int:
    """Values to keep per partition so a table gives Wasserstein edges ~2 samples per bin."""
    return max(SAMPLE_PER_PARTITION, -(-2 * WASSERSTEIN_BINS // max(partitions, 1)))


def partition_stats(frame: Any, columns: Iterable[str], seed: int, index: int,
                    sample: int = SAMPLE_PER_PARTITION,
                    grids: Mapping[str, tuple[float, float]] | None = None
                    ) -> dict[str, ColumnStats]:
    """Reduce one partition (a pandas DataFrame) to per-column statistics; numeric columns named
    in `grids` are also put on the grid over their (low, high)."""
    rng = np.random.default_rng([seed, index])
    grids = grids or {}
    scratch = Scratch()
    return {c: _column_stats(frame[c], rng, sample, grids.get(c), scratch) for c in columns}


def _column_stats(series: Any, rng: np.random.Generator, sample: int,
                  grid_range: tuple[float, float] | None = None,
                  scratch: Scratch | None = None) -> ColumnStats:
    kind = dtype_kind(series.dtype)
    stats = ColumnStats(kind=kind, dtype=str(series.dtype), family=value_family(series.dtype))
    if stats.family == "number":
        _add_numbers(stats, series.to_numpy(dtype=np.float64, na_value=np.nan),
                     series.dtype.kind in "iu", rng, sample, grid_range, scratch or Scratch())
        return stats
    if stats.family in ("bool", "text"):
        clean = series.dropna()
        stats.nulls = len(series) - len(clean)
        stats.n = len(clean)
        if kind == "object" and stats.n:
            stats.first_is_str = isinstance(clean.iloc[0], str)
            stats.last_is_str = isinstance(clean.iloc[-1], str)
        counts = clean.value_counts(sort=False)
        stats.counts = None if len(counts) > CATEGORY_CAP else \
            {_plain(k): int(v) for k, v in counts.items() if v > 0}
        return stats
    stats.counts = None
    stats.n = int(series.notna().sum())
    stats.nulls = len(series) - stats.n
    return stats


def _add_numbers(stats: ColumnStats, values: np.ndarray, integers: bool,
                 rng: np.random.Generator, sample: int,
                 grid_range: tuple[float, float] | None, scratch: Scratch) -> None:
    """Moments, counts (while few distinct), a sample and the grid of float64 `values`."""
    finite_mask = np.isfinite(values, out=scratch.flags(len(values)))
    finite = values if finite_mask.all() else values[finite_mask]
    stats.nulls = len(values) - len(finite)
    stats.n = len(finite)
    stats.grid_range = grid_range
    if not stats.n:
        return
    stats.minimum, stats.maximum = float(finite.min()), float(finite.max())
    stats.mean = float(finite.mean())
    deviation = np.subtract(finite, stats.mean, out=scratch.floats(stats.n))
    np.square(deviation, out=deviation)  # not np.dot: BLAS threads can take 10x as long
    stats.m2 = float(deviation.sum())
    stats.counts = _numeric_counts(finite)
    if integers:
        steps = np.diff(finite)
        if (steps > 0).all() or (steps < 0).all():
            stats.runs = [(stats.minimum, stats.maximum)]
    if stats.n <= sample:
        stats.sample = finite.copy()  # `values` may be a view or a scratch array
    else:
        stats.sample = rng.choice(finite, sample, replace=False)
    if stats.counts is None and grid_range is not None:
        stats.grid = Grid.of(finite, *grid_range, scratch=scratch)


def arrow_stats(table: Any, columns: Iterable[str], seed: int, index: int,
                sample: int = SAMPLE_PER_PARTITION,
                grids: Mapping[str, tuple[float, float]] | None = None
                ) -> dict[str, ColumnStats]:
    """`partition_stats` of `table.to_pandas()`, from an Arrow table: numbers, booleans, strings
    and dictionaries (categories) are reduced with Arrow's kernels; any other type is converted
    to pandas first, so the statistics are the pandas ones whatever the type."""
    columns = list(columns)
    rng = np.random.default_rng([seed, index])
    grids = grids or {}
    chosen = table.select(columns)
    metadata = tuple(sorted((chosen.schema.metadata or {}).items()))
    dtypes = _pandas_dtypes(chosen.schema, metadata)
    out = {}
    scratch = Scratch()
    for position, column in enumerate(columns):
        data = chosen.column(position)
        dtype = None if dtypes is None else dtypes.iloc[position]
        found = None if dtype is None else \
            _arrow_column_stats(data, dtype, rng, sample, grids.get(column), scratch)
        if found is None:
            series = chosen.select([position]).to_pandas().iloc[:, 0]
            found = _column_stats(series, rng, sample, grids.get(column), scratch)
        out[column] = found
    return out


@lru_cache(maxsize=64)
def _pandas_dtypes(schema: Any, metadata: tuple[tuple[bytes, bytes], ...]) -> Any:
    """The dtypes `to_pandas` gives a table of `schema` (its pandas `metadata` followed: schemas
    compare without it), or None where that metadata does not fit the schema (then pandas
    converts each column itself)."""
    try:
        return schema.empty_table().to_pandas().dtypes
    except Exception:
        return None


def _arrow_column_stats(data: Any, dtype: Any, rng: np.random.Generator, sample: int,
                        grid_range: tuple[float, float] | None,
                        scratch: Scratch) -> ColumnStats | None:
    """The statistics of one Arrow column typed `dtype` when empty, or None where only pandas'
    own conversion gives them (dates, decimals, nested values, booleans with nulls...)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow_type, nulls, family = data.type, data.null_count, value_family(dtype)
    numpy_dtype = isinstance(dtype, np.dtype)
    if family == "number" and (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
        if nulls and numpy_dtype and dtype.kind in "iu":
            dtype = np.dtype(np.float64)  # pandas reads integers with nulls as float64
        stats = ColumnStats(kind=dtype_kind(dtype), dtype=str(dtype), family="number")
        values = data.to_numpy() if data.num_chunks != 1 else data.chunk(0).to_numpy(
            zero_copy_only=False)
        if values.dtype != np.float64:  # integers, float32
            converted = scratch.values(len(values))
            np.copyto(converted, values, casting="unsafe")
            values = converted
        _add_numbers(stats, values, dtype.kind in "iu", rng, sample, grid_range, scratch)
        return stats
    if family == "bool" and pa.types.is_boolean(arrow_type) and not nulls and numpy_dtype:
        stats = ColumnStats(kind=dtype_kind(dtype), dtype=str(dtype), family="bool")
        stats.n = len(data)
        true = int(pc.sum(data).as_py() or 0)
        first = bool(data[0].as_py()) if stats.n else True
        counts = {first: true if first else stats.n - true,
                  not first: stats.n - true if first else true}
        stats.counts = {k: v for k, v in counts.items() if v > 0}
        return stats
    if family != "text":
        return None
    kind = dtype_kind(dtype)
    if pa.types.is_dictionary(arrow_type) and kind == "category":
        keys: list[Any] = []
        totals = np.zeros(0, dtype=np.int64)
        if data.num_chunks:
            unified = data.unify_dictionaries()
            keys = unified.chunk(0).dictionary.to_pylist()
            totals = np.zeros(len(keys), dtype=np.int64)
            for chunk in unified.chunks:
                codes = pc.drop_null(chunk.indices).to_numpy()
                totals += np.bincount(codes, minlength=len(keys))
        found: dict[Any, int] = {}
        for key, count in zip(keys, totals.tolist(), strict=True):
            if count > 0 and key is not None:
                found[key] = found.get(key, 0) + count
    elif (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)) \
            and kind in ("object", "string"):
        counted = pc.value_counts(data)
        found = {key: count for key, count in zip(counted.field("values").to_pylist(),
                                                   counted.field("counts").to_pylist(),
                                                   strict=True) if key is not None}
    else:
        return None
    stats = ColumnStats(kind=kind, dtype=str(dtype), family="text")
    stats.nulls = nulls
    stats.n = len(data) - nulls
    if kind == "object" and stats.n:
        stats.first_is_str = stats.last_is_str = True  # Arrow strings are all str in pandas
    stats.counts = None if len(found) > CATEGORY_CAP else found
    return stats


def _numeric_counts(finite: np.ndarray) -> dict[Any, int] | None:
    probe = finite[:PROBE_VALUES]
    if len(np.unique(probe)) > NUMERIC_COUNT_CAP:  # cheap early exit for continuous columns
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    counted = pc.value_counts(pa.array(finite))  # hashing: ~3x faster than np.unique's sort
    if len(counted) > NUMERIC_COUNT_CAP:
        return None
    values = counted.field("values").to_numpy()
    order = np.argsort(values, kind="stable")
    out: dict[Any, int] = {}
    for value, count in zip(values[order].tolist(), counted.field("counts").to_numpy()[order]
                            .tolist(), strict=True):
        out[value] = out.get(value, 0) + count  # -0.0 and 0.0 are one value, as in np.unique
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def merge(parts: Iterable[ColumnStats], seed: int = 0) -> ColumnStats:
    """Merge per-partition statistics of one column (order matters only for first/last)."""
    parts = list(parts)
    out = ColumnStats(kind=parts[0].kind, dtype=parts[0].dtype)
    samples = []
    typed = [p for p in parts if p.n] or parts[:1]  # an all-null file (read as float) has no say
    out.kind, out.dtype, out.family = typed[0].kind, typed[0].dtype, typed[0].family
    for p in typed[1:]:
        if p.kind != out.kind:  # partitions typed differently (e.g. an int file and a float one)
            kinds = {p.kind, out.kind}
            out.kind = ("float" if kinds <= {"int", "float"} else
                        "string" if kinds <= {"string", "object", "category"} else "other")
        if p.family != out.family:
            out.family = "none"
    runs: list[tuple[float, float]] | None = []
    grids, loose, complete = [], [], True  # grids; counts of parts without one
    out.grid_range = next((p.grid_range for p in parts if p.grid_range is not None), None)
    for p in parts:
        if p.grid is not None:
            grids.append(p.grid)
        elif p.counts:
            loose.append(p.counts)
        elif p.n:
            complete = False  # values neither on the grid nor counted
        if p.n and p.grid_range != out.grid_range:
            complete = False
        if p.n and runs is not None:
            runs = None if p.runs is None else [*runs, *p.runs]
        out.nulls += p.nulls
        if p.n:
            total = out.n + p.n
            delta = p.mean - out.mean
            out.mean += delta * p.n / total
            out.m2 += p.m2 + delta * delta * out.n * p.n / total
            out.n = total
            out.minimum, out.maximum = min(out.minimum, p.minimum), max(out.maximum, p.maximum)
            if out.first_is_str is None:
                out.first_is_str = p.first_is_str
            if p.last_is_str is not None:
                out.last_is_str = p.last_is_str
        if out.counts is not None:
            if p.counts is None:
                out.counts = None
            else:
                for k, v in p.counts.items():
                    out.counts[k] = out.counts.get(k, 0) + v
                cap = NUMERIC_COUNT_CAP if out.family == "number" else CATEGORY_CAP
                if len(out.counts) > cap:
                    out.counts = None
        if p.sample is not None:
            samples.append(p.sample)
    out.runs = runs or None
    if out.counts is None and out.grid_range is not None and complete and (grids or loose):
        out.grid = _grid_sum(grids, loose, out.grid_range)
    if samples:
        sample = np.concatenate(samples)
        if len(sample) > SAMPLE_CAP:
            sample = np.random.default_rng(seed).choice(sample, SAMPLE_CAP, replace=False)
        out.sample = sample
    return out


def _grid_sum(grids: list[Grid], loose: list[dict[Any, int]],
              grid_range: tuple[float, float]) -> Grid:
    if loose:  # parts that counted their few distinct values join the grid here
        keys = np.array([k for counts in loose for k in counts], dtype=np.float64)
        weights = np.array([v for counts in loose for v in counts.values()], dtype=np.float64)
        grids = [*grids, Grid.of(keys, *grid_range, weights=weights)]
    total = grids[0]
    for grid in grids[1:]:
        total = total + grid
    return total


def grid_of(found: ColumnStats) -> Grid | None:
    """The column's grid, from its counts when it has few distinct values; None when it has
    none, or when values fell outside the grid's range (a footer's range that was wrong)."""
    if found.grid_range is None or found.n == 0:
        return None
    low, high = found.grid_range
    if found.minimum < low or found.maximum > high:
        return None
    if found.grid is not None:
        return found.grid
    if found.counts is None:
        return None
    return _grid_sum([], [found.counts], found.grid_range)


# -- types and tests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnPlan:
    column: str
    column_type: ColumnType
    stattest: Stattest
    threshold: float


def infer_type(current: ColumnStats) -> ColumnType | str:
    """Evidently's type of a column, from the current data; a str is the reason it is skipped."""
    kind = current.kind
    if kind == "float":
        return "numerical"
    if kind == "int":
        distinct = current.distinct
        if distinct is not None and distinct <= INTEGER_CARDINALITY_LIMIT:
            return "categorical"
        return "numerical"
    if kind in ("bool", "category"):
        return "categorical"
    if kind in ("string", "object"):
        if kind == "object" and not (current.first_is_str and current.last_is_str):
            return f"values of dtype {current.dtype} are neither numbers nor strings"
        if current.counts is None:
            return f"id-like: more than {CATEGORY_CAP:,} distinct values"
        if len(current.counts) > 0.5 * current.n:
            return (f"text or id-like: {len(current.counts):,} distinct values in "
                    f"{current.n:,} rows (Evidently's text rule)")
        return "categorical"
    if current.family in ("number", "bool"):
        return (f"Evidently does not type dtype {current.dtype}; pass column_types to test it "
                "as numerical or categorical")
    return f"dtype {current.dtype} is not used for drift (as in Evidently)"


def left_out(reference: ColumnStats, current: ColumnStats) -> str | None:
    """Why a column is no feature to test (a date, a row id, an id-like string), or None.

    Decided from either side: a date or an id on one side is one on the other too.
    """
    for side in (current, reference):
        if side.family == "none" and side.dtype.startswith(("datetime", "period")):
            return "a date or timestamp (datetime-typed)"
        if side.family == "text" and side.counts and _holds_dates(side.counts):
            return "a date or timestamp (text holding dates)"
    for side in (reference, current):
        if is_row_id(side):
            return "a row id (unique in every row)"
    for side in (current, reference):
        if side.family == "text" and (side.counts is None or len(side.counts) > ID_TEXT_DISTINCT):
            many = f"more than {CATEGORY_CAP:,}" if side.counts is None else \
                f"{len(side.counts):,}"
            return (f"id-like: {many} distinct strings; mark it categorical in column_types "
                    "to test it")
    return None


def is_row_id(found: ColumnStats) -> bool:
    """Unique in every row and never null, on enough rows to say so: strings, or integers
    spanning at most ID_SPAN times the rows (an amount or a count can be unique too, but its
    values spread far wider than a numbering's)."""
    if found.n < ID_MIN_ROWS or found.nulls:
        return False
    if found.family == "text":  # unique words: ids; unique sentences: free text, typed so
        if found.counts is None or len(found.counts) != found.n:
            return False
        words = [k for _, k in zip(range(DATE_KEYS), found.counts, strict=False)]
        return not any(isinstance(k, str) and any(c.isspace() for c in k.strip())
                       for k in words)
    if found.family != "number" or not _integer_dtype(found.dtype):
        return False
    if found.maximum - found.minimum + 1 > ID_SPAN * found.n:
        return False
    if found.counts is not None:
        return len(found.counts) == found.n
    if found.runs is None:
        return False
    ordered = sorted(found.runs)
    return all(high < low for (_, high), (low, _) in pairwise(ordered))


def _integer_dtype(dtype: str) -> bool:
    return dtype.lower().startswith(("int", "uint"))


def _holds_dates(counts: Mapping[Any, int]) -> bool:
    keys = [k for _, k in zip(range(DATE_KEYS), counts, strict=False)]
    return all(isinstance(k, str) and DATE_TEXT.match(k) for k in keys)


def plan_column(column: str, column_type: ColumnType, reference: ColumnStats,
                current: ColumnStats, threshold: float | None = None) -> ColumnPlan:
    n_values = _union_distinct(reference, current)
    if reference.n <= SMALL_REFERENCE_ROWS:
        if column_type == "numerical" and (n_values is None or n_values > 5):
            test: Stattest = "ks"
        else:
            test = "chisquare" if n_values is None or n_values > 2 else "z"
    elif column_type == "numerical":
        test = "wasserstein" if n_values is None or n_values > 5 else "jensenshannon"
    else:
        test = "jensenshannon"
    return ColumnPlan(column, column_type, test, THRESHOLDS[test] if threshold is None
                      else float(threshold))


def _union_distinct(reference: ColumnStats, current: ColumnStats) -> int | None:
    if reference.counts is None or current.counts is None:
        return None
    return len(set(reference.counts) | set(current.counts))


def is_drifted(stattest: str, score: float, threshold: float) -> bool:
    if stattest == "ks":
        return bool(score <= threshold)  # Evidently's K-S test drifts at p <= threshold
    if stattest in P_VALUE_TESTS:
        return bool(score < threshold)
    return bool(score >= threshold)


def counts_test(stattest: str, reference: Mapping[Any, int], current: Mapping[Any, int]) -> float:
    """Score of a test that needs value counts only (Z, chi-square, Jensen-Shannon)."""
    from scipy.spatial import distance
    from scipy.stats import chisquare, norm

    keys = sorted(set(reference) | set(current), key=_sort_key)
    n_ref, n_cur = sum(reference.values()), sum(current.values())
    if stattest == "z":
        if len(reference) == 1 and len(current) == 1 and set(reference) == set(current):
            return 1.0
        first = keys[0]
        p1 = float(n_ref - reference.get(first, 0)) / n_ref
        p2 = float(n_cur - current.get(first, 0)) / n_cur
        pooled = float(p1 * n_ref + p2 * n_cur) / (n_ref + n_cur)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n_ref + 1.0 / n_cur))
        return float(2 * (1 - norm.cdf(np.abs(z))))
    if stattest == "chisquare":
        scale = n_cur / n_ref
        expected = [reference.get(k, 0) * scale for k in keys]
        observed = [current.get(k, 0) for k in keys]
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(chisquare(observed, expected)[1])
    if stattest == "jensenshannon":
        ref = np.array([reference.get(k, 0) / n_ref for k in keys])
        cur = np.array([current.get(k, 0) / n_cur for k in keys])
        return float(distance.jensenshannon(ref, cur, None))
    raise ValueError(f"{stattest} is not a counts test")


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def jensenshannon_at_keys(reference_at_keys: Mapping[Any, int], reference_total: int,
                          current: Mapping[Any, int]) -> float:
    """Jensen-Shannon distance when the reference has too many distinct values to count.

    Reference values the current never shows each add p * ln 2 / 2 to the divergence whatever
    their split, so one bucket holding their total mass gives the same distance.
    """
    from scipy.spatial import distance

    keys = sorted(current, key=_sort_key)
    n_cur = sum(current.values())
    ref = [reference_at_keys.get(k, 0) / reference_total for k in keys]
    rest = max(reference_total - sum(reference_at_keys.get(k, 0) for k in keys), 0)
    return float(distance.jensenshannon(np.array([*ref, rest / reference_total]),
                                        np.array([*(current[k] / n_cur for k in keys), 0.0]),
                                        None))


def ks_pvalue_from_counts(ref_values: np.ndarray, cur_le: np.ndarray, cur_lt: np.ndarray,
                          n_cur: int) -> float:
    """scipy's two-sided `ks_2samp(reference, current)` p-value, exactly, from counts.

    `ref_values` are all reference values (sorted); `cur_le[i]` / `cur_lt[i]` count current
    values <= / < the i-th distinct reference value. The largest gap of the two ECDFs is at a
    reference value (ref above) or just below one (current above), so D is exact.
    """
    from scipy import stats
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    _, ref_counts = np.unique(ref_values, return_counts=True)
    n_ref = int(ref_counts.sum())
    ref_le = np.cumsum(ref_counts)
    ref_lt = ref_le - ref_counts
    max_s = float((ref_le / n_ref - cur_le / n_cur).max())
    min_s = float(np.clip(-min((ref_lt / n_ref - cur_lt / n_cur).min(), 0.0), 0, 1))
    d = min_s if min_s > max_s else max_s
    prob = -np.inf
    if max(n_ref, n_cur) <= 10_000:  # scipy's 'auto': exact for small samples
        ok, d, prob = _attempt_exact_2kssamp(n_ref, n_cur, math.gcd(n_ref, n_cur), d, "two-sided")
        if not ok:
            prob = -np.inf
    if prob == -np.inf:
        m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
        prob = stats.distributions.kstwo.sf(d, np.round(m * n / (m + n)))
    return float(np.clip(prob, 0, 1))


def wasserstein_from_counts(reference: Mapping[float, int], current: Mapping[float, int],
                            ref_std: float) -> float:
    """Evidently's normed Wasserstein distance, exactly, for columns with few distinct values."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(list(reference), list(current), list(reference.values()),
                                      list(current.values())) / max(ref_std, 0.001))


def wasserstein_edges(samples: Iterable[np.ndarray], bins: int = WASSERSTEIN_BINS) -> np.ndarray:
    """Bin edges at quantiles of both sides' samples: fine where the data is."""
    values = np.unique(np.concatenate([s for s in samples if s is not None and len(s)]))
    if len(values) > bins:
        values = values[np.linspace(0, len(values) - 1, bins).round().astype(np.int64)]
    return np.unique(values)


def bin_counts(values: np.ndarray, edges: np.ndarray,
               shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums (of value - shift) in bins (-inf, e0), [e0, e1), ..., [eK-1, inf).

    Sorting the values and cutting them at the edges is ~8x faster than looking each value up
    among the edges (numpy's vectorised sort against a binary search per value).
    """
    ordered = np.sort(values[np.isfinite(values)])
    cuts = np.concatenate(([0], np.searchsorted(ordered, edges, side="left"), [len(ordered)]))
    running = np.concatenate(([0.0], np.cumsum(ordered - shift)))
    return np.diff(cuts), np.diff(running[cuts])


def counts_at(values: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many `values` lie below and at-or-below each of the sorted `points`."""
    ordered = np.sort(values[np.isfinite(values)])
    return (np.searchsorted(ordered, points, side="left"),
            np.searchsorted(ordered, points, side="right"))


def wasserstein_from_grids(reference: Grid, current: Grid, ref_std: float
                           ) -> tuple[float, float]:
    """Evidently's normed Wasserstein distance, and a bound on its error, from two grids on the
    same cells (see `wasserstein_from_bins`: a cell is a bin whose sums are known exactly)."""
    width = reference.width
    widths = np.full(len(reference.counts), width)
    # sum over a cell's values of (cell end - value), in the units of wasserstein_from_bins
    slack = [(g.counts - g.fill) * width for g in (reference, current)]
    return _wasserstein_core(widths, (reference.counts, slack[0]), (current.counts, slack[1]),
                             ref_std)


def wasserstein_from_bins(edges: np.ndarray, shift: float, low: float, high: float,
                          reference: tuple[np.ndarray, np.ndarray],
                          current: tuple[np.ndarray, np.ndarray], ref_std: float
                          ) -> tuple[float, float]:
    """Evidently's normed Wasserstein distance, and a bound on its error, from binned sums.

    Over a bin [a, b) the integral of an ECDF is (below * (b - a) + sum(b - v)) / n, exact from
    the bin's count and sum. |F_ref - F_cur| integrates exactly wherever the difference keeps its
    sign over a bin; in a bin where it may cross zero the error is at most width * mass.
    """
    starts = np.concatenate(([low], edges)) - shift
    ends = np.concatenate((edges, [high])) - shift
    widths = np.maximum(ends - starts, 0.0)
    return _wasserstein_core(widths, (reference[0], reference[0] * ends - reference[1]),
                             (current[0], current[0] * ends - current[1]), ref_std)


def _wasserstein_core(widths: np.ndarray, reference: tuple[np.ndarray, np.ndarray],
                      current: tuple[np.ndarray, np.ndarray], ref_std: float
                      ) -> tuple[float, float]:
    """From each bin's width, count and slack (sum of bin end - value over its values)."""

    def integrals(counts: np.ndarray, slack: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        n = int(counts.sum())
        below = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return (below * widths + slack) / n, below / n, n

    ref_int, ref_below, n_ref = integrals(*reference)
    cur_int, cur_below, n_cur = integrals(*current)
    gap = np.abs(ref_int - cur_int)  # exact where F_ref - F_cur keeps its sign over the bin
    distance = float(gap.sum())
    start = ref_below - cur_below  # F_ref - F_cur at the bin's left edge
    p_ref, p_cur = reference[0] / n_ref, current[0] / n_cur
    crosses = (start - p_cur < 0) & (start + p_ref > 0)
    bound = float((widths * (p_ref + p_cur))[crosses].sum())
    norm = max(ref_std, 0.001)
    return distance / norm, bound / norm
