"""The two sides of a drift check as the user gives them: pandas, dask, or a Parquet/CSV path.

A `Table` knows its columns and dtypes without loading data, yields its partitions as pandas
frames (a path is read partition by partition, so a table larger than memory is fine), and can
hand back a seeded sample for Evidently's HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

LOCAL_PARTITION_ROWS = 250_000  # pandas inputs are reduced in chunks of this many rows


@dataclass
class Table:
    label: str  # "reference" or "current", for messages
    kind: str  # "pandas", "dask"
    frame: Any  # a pandas or dask DataFrame (a path is opened as a lazy dask DataFrame)
    source: str  # what the user passed, described
    file_bytes: int | None = None  # on disk, for a path
    persisted: bool = False  # held in the workers' memory for the current step

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def dtype(self, column: str) -> Any:
        return self.frame.dtypes[column]

    @property
    def in_memory(self) -> bool:
        return self.kind == "pandas"

    def rows(self) -> int:
        return len(self.frame)

    def to_pandas(self, columns: list[str]) -> pd.DataFrame:
        if self.kind == "pandas":
            return self.frame[columns]
        return self.frame[columns].compute()

    def loaded(self) -> Table:
        """The same table as pandas (read in full)."""
        if self.kind == "pandas":
            return self
        return Table(self.label, "pandas", self.frame.compute(), self.source, self.file_bytes)

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
    import dask
    import dask.dataframe as dd
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
        frame = dd.read_parquet(files)
    else:
        # one pandas read per file keeps each file's own dtypes, as pandas.read_csv would
        meta = pd.read_csv(files[0], nrows=100)
        frame = dd.from_delayed([dask.delayed(pd.read_csv)(f) for f in files], meta=meta.iloc[:0],
                                verify_meta=False)
    return Table(label, "dask", frame, str(resolved),
                 file_bytes=sum(Path(f).stat().st_size for f in files))


def partitions(table: Table, columns: list[str]) -> list[Any]:
    """The table's partitions: pandas frames for a pandas table, delayed ones for dask."""
    if table.kind == "pandas":
        frame = table.frame[columns]
        step = LOCAL_PARTITION_ROWS
        return [frame.iloc[i:i + step] for i in range(0, max(len(frame), 1), step)]
    return list(table.frame[columns].to_delayed())
