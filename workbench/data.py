"""Training data as the user gives it: a pandas DataFrame, a Parquet/CSV path, a dask DataFrame.

The client inspects it (columns, a digest for MLflow) without loading a path into memory; the
worker loads it. Paths are resolved to absolute paths and checked before anything runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

TABULAR_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class DataSource:
    kind: Literal["pandas", "path", "dask"]
    columns: tuple[str, ...]
    digest: str
    source: str  # a path, or a description of the in-memory object
    format: str | None = None  # parquet or csv, for paths
    rows: int | None = None


def inspect(data: Any) -> DataSource:
    """Describe `data` for tracking and validation; raises ConfigError on anything unusable."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        digest = hashlib.sha256(pd.util.hash_pandas_object(data, index=True).values.tobytes())
        digest.update(",".join(map(str, data.columns)).encode())
        return DataSource("pandas", tuple(map(str, data.columns)), digest.hexdigest()[:16],
                          "pandas.DataFrame", rows=len(data))
    if _is_dask_frame(data):
        import dask

        hashed = data.map_partitions(
            lambda part: pd.Series([int(pd.util.hash_pandas_object(part).sum()) & (2**63 - 1)]),
            meta=(None, "int64"),
        )
        parts, rows = dask.compute(hashed, data.map_partitions(len))
        digest = hashlib.sha256(",".join(map(str, list(parts) + list(data.columns))).encode())
        return DataSource("dask", tuple(map(str, data.columns)), digest.hexdigest()[:16],
                          "dask.DataFrame", rows=int(sum(rows)))
    if isinstance(data, (str, Path)):
        return _inspect_path(Path(data))
    raise ConfigError(f"data of type {type(data).__name__} is not supported; pass a pandas or dask "
                      "DataFrame, or a path to Parquet/CSV")


def _is_dask_frame(data: Any) -> bool:
    return type(data).__module__.startswith("dask") and hasattr(data, "map_partitions")


def _inspect_path(path: Path) -> DataSource:
    path = path.expanduser().resolve()
    if not path.exists():
        raise ConfigError(f"data path {path} does not exist; check the path")
    files = _tabular_files(path)
    formats = {TABULAR_SUFFIXES[f.suffix.lower()] for f in files}
    if len(formats) > 1:
        raise ConfigError(f"{path} mixes Parquet and CSV files; keep one format per directory")
    fmt = formats.pop()
    columns = _columns(files[0], fmt)
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return DataSource("path", columns, digest.hexdigest()[:16], str(path), format=fmt)


def _tabular_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix.lower() not in TABULAR_SUFFIXES:
            raise ConfigError(f"{path} is not Parquet or CSV (by its suffix); pass a .parquet or "
                              ".csv file, or a directory of them")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and p.suffix.lower() in TABULAR_SUFFIXES and not p.name.startswith((".", "_")))
    if not files:
        raise ConfigError(f"directory {path} holds no .parquet or .csv files; point at the data")
    return files


def _columns(file: Path, fmt: str) -> tuple[str, ...]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return tuple(pq.read_schema(file).names)
        except Exception as exc:
            raise ConfigError(f"{file} is not readable Parquet ({exc}); check the file") from None
    import pandas as pd

    try:
        return tuple(map(str, pd.read_csv(file, nrows=0).columns))
    except Exception as exc:
        raise ConfigError(f"{file} is not readable CSV ({exc}); check the file") from None


def require_columns(source: DataSource, target: str | None) -> None:
    if target is not None and target not in source.columns:
        shown = ", ".join(source.columns[:12]) + (", ..." if len(source.columns) > 12 else "")
        raise ConfigError(f"data has no target column {target!r} (columns: {shown}); add it to "
                          "the data or declare the right target")


def load(source: DataSource) -> pd.DataFrame:
    """Read a path source into pandas (called on the worker)."""
    import pandas as pd

    path = Path(source.source)
    if source.format == "parquet":
        return pd.read_parquet(path)
    files = _tabular_files(path)
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
