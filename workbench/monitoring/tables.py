"""The two sides of a drift check as the user gives them: pandas, dask, or a Parquet/CSV path.

A `Table` knows its columns and dtypes without loading data and yields its partitions: pandas
chunks of a DataFrame, a dask DataFrame's partitions, or for a path `Piece`s (a file, or some
row groups of one) that a task reads with Arrow, so a table larger than memory is fine. A path
small enough is read whole, in this process (`loaded`), with Arrow too: CSV typed as
`pandas.read_csv` types it. It can hand back a seeded sample for Evidently's HTML report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

LOCAL_PARTITION_ROWS = 250_000  # pandas inputs are reduced in chunks of this many rows
PIECE_ROWS = 1_000_000  # rows of a Parquet file one task reads, in whole row groups
NO_TIMESTAMPS = ["%Y-%m-%d %H:%M:%S never"]  # a format no value matches: pandas parses no dates


@dataclass(frozen=True)
class Piece:
    """What one task of a path table reads: a file, or some of a Parquet file's row groups."""

    path: str
    fmt: str  # "parquet" or "csv"
    row_groups: tuple[int, ...] | None = None  # None: the whole file


@dataclass
class Table:
    label: str  # "reference" or "current", for messages
    kind: str  # "pandas", "dask" (a dask DataFrame, or a path read lazily)
    _frame: Any  # a pandas or dask DataFrame; for a path, None until a dask frame is asked for
    source: str  # what the user passed, described
    file_bytes: int | None = None  # on disk, for a path
    persisted: bool = False  # held in the workers' memory for the current step
    files: list[str] = field(default_factory=list)  # a path's files
    fmt: str | None = None  # their format: parquet or csv
    meta: Any = None  # a path's empty pandas frame: its columns and dtypes as pandas reads them
    _footers: list[Any] | None = None  # Parquet metadata of each file, read once

    @property
    def frame(self) -> Any:
        """The data as a pandas or dask DataFrame (a path's dask frame is made on first use)."""
        if self._frame is None:
            self._frame = _dask_frame(self.files, self.fmt, self.meta)
        return self._frame

    @frame.setter
    def frame(self, value: Any) -> None:
        self._frame = value

    @property
    def labels(self) -> list[Any]:
        """The column labels as they are (a pandas frame's may not be strings)."""
        return list((self.meta if self.files else self.frame).columns)

    @property
    def columns(self) -> list[str]:
        source = self.meta if self.files else self.frame
        return [str(c) for c in source.columns]

    def dtype(self, column: str) -> Any:
        return (self.meta if self.files else self.frame).dtypes[column]

    @property
    def in_memory(self) -> bool:
        return self.kind == "pandas"

    def rows(self) -> int:
        if self.fmt == "parquet" and self.files and self.kind != "pandas":
            return sum(footer.num_rows for footer in self.footers())
        return len(self.frame)

    def footers(self) -> list[Any]:
        import pyarrow.parquet as pq

        if self._footers is None:
            self._footers = [pq.read_metadata(f) for f in self.files]
        return self._footers

    def to_pandas(self, columns: list[str]) -> pd.DataFrame:
        if self.kind == "pandas":
            return self.frame[columns]
        if self.files:
            return read_files(self.files, self.fmt or "", columns)
        return self.frame[columns].compute()

    def loaded(self) -> Table:
        """The same table as pandas (read in full, in this process)."""
        if self.kind == "pandas":
            return self
        frame = read_files(self.files, self.fmt or "") if self.files else self.frame.compute()
        return Table(self.label, "pandas", frame, self.source, self.file_bytes)

    def pieces(self) -> list[Piece]:
        """A path's tasks: each CSV file whole; Parquet files in runs of row groups of about
        PIECE_ROWS rows (a file of one huge row group is one piece)."""
        if self.fmt != "parquet":
            return [Piece(f, "csv") for f in self.files]
        out = []
        for path, footer in zip(self.files, self.footers(), strict=True):
            if footer.num_row_groups <= 1 or footer.num_rows <= PIECE_ROWS:
                out.append(Piece(path, "parquet"))
                continue
            run: list[int] = []
            rows = 0
            for group in range(footer.num_row_groups):
                size = footer.row_group(group).num_rows
                if run and rows + size > PIECE_ROWS:
                    out.append(Piece(path, "parquet", tuple(run)))
                    run, rows = [], 0
                run.append(group)
                rows += size
            out.append(Piece(path, "parquet", tuple(run)))
        return out

    def ranges(self, columns: list[str]) -> dict[str, tuple[float, float]]:
        """The finite (min, max) of numeric columns known without reading the data: computed for
        pandas, from the footers' statistics for Parquet; a column missing has no known range."""
        from workbench.monitoring.stats import value_family

        if self.kind == "pandas":
            return _frame_ranges(self.frame, columns)
        if self.fmt != "parquet" or not self.files:
            return {}
        wanted = {c for c in columns if value_family(self.dtype(c)) == "number"}
        return _footer_ranges(self.footers(), wanted)

    def sample(self, columns: list[str], rows: int, seed: int, total: int,
               client: Any = None) -> pd.DataFrame:
        """About `rows` of the table's `total` rows, drawn with `seed` (on the cluster if any)."""
        if total <= rows:
            return self.to_pandas(columns)
        if self.kind == "pandas":
            return self.frame[columns].sample(n=rows, random_state=seed)
        sampled = self.frame[columns].sample(frac=rows / total, random_state=seed)
        return client.compute(sampled).result() if client is not None else sampled.compute()


def open_table(data: Any, label: str) -> Table:
    """Wrap what the user passed; raise a one-line ConfigError for anything unusable."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Table(label, "pandas", data, "pandas.DataFrame")
    if type(data).__module__.startswith("dask") and hasattr(data, "map_partitions"):
        return Table(label, "dask", data, "dask.DataFrame")
    if isinstance(data, (str, Path)):
        return _open_path(Path(data), label)
    raise ConfigError(f"{label} data of type {type(data).__name__} is not supported; pass a "
                      "pandas or dask DataFrame, or a path to Parquet/CSV")


def _open_path(path: Path, label: str) -> Table:
    import pandas as pd

    from workbench.data import TABULAR_SUFFIXES, _columns, _tabular_files

    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise ConfigError(f"{label} data path {resolved} does not exist; check the path")
    found = _tabular_files(resolved)  # no hashing: a drift check reads the data once or twice
    formats = {TABULAR_SUFFIXES[f.suffix.lower()] for f in found}
    if len(formats) > 1:
        raise ConfigError(f"{resolved} mixes Parquet and CSV files; keep one format per directory")
    fmt = formats.pop()
    _columns(found[0], fmt)  # readable, or a one-line error
    files = [str(f) for f in found]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(files[0]).empty_table().to_pandas()
    else:
        meta = pd.read_csv(files[0], nrows=100).iloc[:0]
    return Table(label, "dask", None, str(resolved),
                 file_bytes=sum(Path(f).stat().st_size for f in files), files=files, fmt=fmt,
                 meta=meta)


def _dask_frame(files: list[str], fmt: str | None, meta: Any) -> Any:
    import dask
    import dask.dataframe as dd

    if fmt == "parquet":
        return dd.read_parquet(files)
    # one read per file keeps each file's own dtypes, as pandas.read_csv would
    return dd.from_delayed([dask.delayed(_read_csv_pandas)(f) for f in files], meta=meta,
                           verify_meta=False)


def _read_csv_pandas(path: str) -> pd.DataFrame:
    read = read_csv(path)
    return read.to_pandas() if hasattr(read, "schema") else read


# -- reading --------------------------------------------------------------------------------------
def read_piece(piece: Piece, columns: list[str]) -> Any:
    """A piece's `columns` as an Arrow table (or a pandas frame where Arrow cannot read a CSV)."""
    if piece.fmt == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(piece.path)
        if piece.row_groups is None:
            return parquet.read(columns=columns, use_threads=False, use_pandas_metadata=False)
        return parquet.read_row_groups(list(piece.row_groups), columns=columns,
                                       use_threads=False, use_pandas_metadata=False)
    return read_csv(piece.path, columns, threads=False)


def read_files(files: list[str], fmt: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Files read whole into one pandas frame, each typed as pandas reads it alone."""
    import pandas as pd
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        parts: list[Any] = [pq.read_table(f, columns=columns) for f in files]
    else:
        parts = [read_csv(f, columns) for f in files]
    if all(isinstance(p, pa.Table) for p in parts):
        try:  # one Arrow table: categories unified, an int file and a float file give floats
            whole = parts[0] if len(parts) == 1 else \
                pa.concat_tables(parts, promote_options="permissive")
            return whole.to_pandas()
        except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
            pass  # say strings in one file, numbers in another: pandas concatenates them
    frames = [p.to_pandas() if isinstance(p, pa.Table) else p for p in parts]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_csv(path: str, columns: list[str] | None = None, threads: bool = True) -> Any:
    """A CSV file as an Arrow table typed as `pandas.read_csv(path)` types it: its missing-value
    words, True/False as booleans, 0/1 as integers, dates and times left as text, an empty
    column as floats, an unnamed column as "Unnamed: i". A file Arrow cannot read as pandas
    would (ragged rows, repeated names, bytes that are not UTF-8) comes back as pandas' frame."""
    import pandas as pd
    import pyarrow as pa

    try:
        table = _arrow_csv(path, columns, threads)
    except (pa.ArrowException, ValueError, UnicodeDecodeError):
        table = None
    if table is not None:
        return table
    frame = pd.read_csv(path)
    return frame if columns is None else frame[columns]


def _csv_options(columns: list[str] | None, threads: bool, text: list[str],
                 names: list[str] | None) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pv
    from pandas._libs.parsers import STR_NA_VALUES

    read = pv.ReadOptions(use_threads=threads, column_names=names,
                          skip_rows=1 if names else 0)
    convert = pv.ConvertOptions(
        null_values=sorted(STR_NA_VALUES), strings_can_be_null=True,
        true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"],
        timestamp_parsers=NO_TIMESTAMPS, include_columns=columns,
        column_types={c: pa.string() for c in text})
    return read, convert


def _arrow_csv(path: str, columns: list[str] | None, threads: bool) -> pa.Table | None:
    import pyarrow as pa
    import pyarrow.csv as pv

    header = pv.open_csv(path, read_options=pv.ReadOptions(use_threads=False,
                                                           block_size=1 << 16))
    raw = header.schema.names
    names = [name if name else f"Unnamed: {i}" for i, name in enumerate(raw)]
    if len(set(names)) != len(names):
        return None  # pandas renames repeats (a, a.1): leave that to pandas
    temporal = [n for n, t in zip(names, header.schema.types, strict=True) if _temporal(t)]
    header.close()
    renamed = names if names != raw else None
    for _ in range(2):
        read, convert = _csv_options(columns, threads, temporal, renamed)
        table = pv.read_csv(path, read_options=read, convert_options=convert)
        late = [n for n, t in zip(table.schema.names, table.schema.types, strict=True)
                if _temporal(t) and n not in temporal]
        if not late:
            break
        temporal += late  # a column that looked like dates only past the first block
    else:
        return None
    fixes = {}
    for position, (name, kind) in enumerate(zip(table.schema.names, table.schema.types,
                                                strict=True)):
        if pa.types.is_null(kind):
            fixes[position] = (name, pa.nulls(len(table), pa.float64()))
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return None  # not UTF-8: pandas decides
    for position, (name, column) in fixes.items():
        table = table.set_column(position, name, column)
    return table


def _temporal(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_temporal(kind))


# -- ranges for the one-pass grid -----------------------------------------------------------------
def _frame_ranges(frame: Any, columns: list[str]) -> dict[str, tuple[float, float]]:
    import numpy as np

    from workbench.monitoring.stats import value_family

    out = {}
    for column in columns:
        series = frame[column]
        if value_family(series.dtype) != "number":
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        if len(finite):
            out[column] = (float(finite.min()), float(finite.max()))
    return out


def _footer_ranges(footers: list[Any], wanted: set[str]) -> dict[str, tuple[float, float]]:
    """Each wanted column's (min, max) over every row group's statistics; a column with a row
    group holding values but no statistics, or a non-finite bound, is left out."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    lost: set[str] = set()
    for footer in footers:
        for group in range(footer.num_row_groups):
            row_group = footer.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                name = chunk.path_in_schema
                if name not in wanted or name in lost:
                    continue
                statistics = chunk.statistics
                if statistics is None or not statistics.has_min_max:
                    if statistics is None or statistics.null_count != row_group.num_rows:
                        lost.add(name)
                    continue
                try:
                    minimum, maximum = float(statistics.min), float(statistics.max)
                except (TypeError, ValueError):
                    lost.add(name)
                    continue
                if not (math.isfinite(minimum) and math.isfinite(maximum)):
                    lost.add(name)
                    continue
                low[name] = min(low.get(name, minimum), minimum)
                high[name] = max(high.get(name, maximum), maximum)
    return {c: (low[c], high[c]) for c in low if c not in lost}


def partitions(table: Table, columns: list[str]) -> list[Any]:
    """The table's partitions: pandas frames for a pandas table, pieces for a path, delayed
    pandas frames for a dask DataFrame."""
    if table.kind == "pandas":
        frame = table.frame[columns]
        step = LOCAL_PARTITION_ROWS
        return [frame.iloc[i:i + step] for i in range(0, max(len(frame), 1), step)]
    if table.files:
        return list(table.pieces())
    return list(table.frame[columns].to_delayed())
