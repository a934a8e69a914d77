"""Fast on files: small files read here with Arrow (no cluster), larger ones in pieces on the
cluster with the one-pass grid; every path gives the verdicts pandas data gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import wasserstein_distance

import workbench as wb
from tests.monitoring.data import mixed_table
from workbench.monitoring import api, stats
from workbench.monitoring.tables import open_table, read_csv


def _flights(rows: int, seed: int, late: float = 0.0) -> pd.DataFrame:
    """A user's CSV: a row id, ints, floats with nulls, strings with nulls, an ISO timestamp,
    booleans, an all-empty column and a 0/1 target."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(5, 23, rows)
    delay = rng.exponential(10 + 20 * late, rows)
    delay[rng.random(rows) < 0.03] = np.nan
    carrier = rng.choice(["UA", "B6", "EV", "DL"], rows,
                         p=[0.4 - late / 4, 0.3, 0.2, 0.1 + late / 4])
    tail = np.array([f"N{i:04d}" for i in range(1_500)], dtype=object)[
        rng.integers(0, 1_500, rows)]
    tail[rng.random(rows) < 0.02] = None
    return pd.DataFrame({
        "id": np.arange(rows) + 7 * seed, "hour": hour, "delay": delay,
        "distance": rng.integers(80, 3_000, rows), "carrier": carrier, "tailnum": tail,
        "origin": np.where(rng.random(rows) < 0.01, "", rng.choice(["EWR", "JFK", "LGA"], rows)),
        "time_hour": [f"2013-{1 + i % 12:02d}-{1 + i % 28:02d}T{h:02d}:00:00"
                      for i, h in enumerate(hour)],
        "cancelled": rng.random(rows) < 0.02 + late / 10, "note": np.nan,
        "delayed": (np.nan_to_num(delay) > 15).astype(int),
    })


def _same(a: wb.DriftResult, b: wb.DriftResult, exact: bool = True) -> None:
    assert set(a.columns) == set(b.columns) and a.skipped == b.skipped
    for name, got in a.columns.items():
        want = b.columns[name]
        assert (got.stattest, got.drifted) == (want.stattest, want.drifted), name
        close = exact or got.stattest != "wasserstein"
        assert got.score == pytest.approx(want.score, rel=1e-12 if close else 0,
                                          abs=1e-15 if close else 1e-4), name


def test_csv_is_read_as_pandas_reads_it(tmp_path: Path) -> None:
    frame = _flights(3_000, seed=1)
    frame.to_csv(tmp_path / "flights.csv")  # the unnamed row index pandas writes
    path = str(tmp_path / "flights.csv")
    got, want = read_csv(path).to_pandas(), pd.read_csv(path)
    assert list(got.columns) == list(want.columns) and "Unnamed: 0" in got.columns
    assert dict(got.dtypes) == dict(want.dtypes)
    assert str(got["time_hour"].dtype) == "object"  # dates stay text, as pandas leaves them
    pd.testing.assert_frame_equal(got.fillna(np.nan), want.fillna(np.nan))
    only = read_csv(path, ["delay", "time_hour"]).to_pandas()
    assert dict(only.dtypes) == {"delay": want["delay"].dtype, "time_hour": np.dtype(object)}


def test_csv_files_give_the_verdicts_of_their_pandas_frames_without_a_cluster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference, current = _flights(30_000, seed=2), _flights(20_000, seed=3, late=0.5)
    reference.to_csv(tmp_path / "reference.csv", index=False)
    current.to_csv(tmp_path / "current.csv", index=False)

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("small files must not start a cluster")

    monkeypatch.setattr("workbench.dask_cluster.cluster", no_cluster)
    for engine in ("dask", "auto"):
        from_files = wb.drift(tmp_path / "reference.csv", tmp_path / "current.csv",
                              engine=engine, target="delayed")
        from_frames = wb.drift(pd.read_csv(tmp_path / "reference.csv"),
                               pd.read_csv(tmp_path / "current.csv"), engine=engine,
                               target="delayed")
        _same(from_files, from_frames)
    assert from_files.engine == "evidently"  # 50k rows in all: Evidently itself, as for pandas
    skipped = from_files.skipped
    assert "row id" in skipped["id"] and "date" in skipped["time_hour"]
    assert skipped["delayed"] == "the target"
    assert {"delay", "carrier"} <= set(from_files.drifted_columns)
    assert "null" in skipped["note"]  # an empty column: floats, all missing


def test_files_on_the_cluster_give_the_pandas_verdicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_client: object) -> None:
    reference = mixed_table(12_000, seed=20).drop(columns="comment")
    current = mixed_table(9_000, seed=21, shift=0.2).drop(columns="comment")
    current["colour"] = current["colour"].astype("category")
    reference["colour"] = reference["colour"].astype("category")
    expected = wb.drift(reference, current, engine="dask")
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    for i, part in enumerate(np.array_split(reference, 3)):
        part.to_parquet(ref_dir / f"part-{i}.parquet", row_group_size=1_500)
    current.to_csv(tmp_path / "current.csv", index=False)
    monkeypatch.setattr(api, "LOCAL_FILE_BYTES", 0)  # as if too large to read here
    monkeypatch.setattr("workbench.monitoring.tables.PIECE_ROWS", 3_000)
    ref = open_table(ref_dir, "reference")
    assert len(ref.pieces()) == 6 and all(p.row_groups for p in ref.pieces())
    on_cluster = wb.drift(ref_dir, tmp_path / "current.csv", engine="dask")
    assert on_cluster.reference_rows == len(reference)
    current["colour"] = current["colour"].astype(object)  # a CSV holds text, not categories
    _same(on_cluster, expected, exact=False)
    both_parquet = tmp_path / "cur.parquet"
    current.to_parquet(both_parquet)
    one_pass = wb.drift(ref_dir, both_parquet, engine="dask")
    _same(one_pass, expected, exact=False)
    assert one_pass.columns["normal"].score_error_bound < 1e-3


def test_arrow_statistics_equal_the_pandas_ones() -> None:
    rng = np.random.default_rng(4)
    rows = 12_000  # more distinct values than are counted: "f" and "i" go on the grid
    frame = pd.DataFrame({
        "f": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
        "i": rng.integers(0, 1_000_000, rows), "few": rng.integers(0, 4, rows),
        "run": np.arange(rows), "b": rng.random(rows) < 0.3,
        "s": np.where(rng.random(rows) < 0.1, None, rng.choice(list("abcde"), rows)),
        "c": pd.Categorical(rng.choice(["x", "y", "z"], rows), categories=["z", "y", "x", "w"]),
        "n": pd.array(np.where(rng.random(rows) < 0.1, None, rng.integers(0, 9, rows)),
                      dtype="Int64"),
        "t": pd.date_range("2020-01-01", periods=rows, freq="h"),
        "bn": pd.Series(np.where(rng.random(rows) < 0.1, None, rng.random(rows) < 0.5),
                        dtype=object),
    })
    frame.loc[::97, "f"] = np.inf
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = list(frame.columns)
    grids = {"f": (-5.0, 5.0), "i": (0.0, 1e6), "few": (0.0, 3.0)}
    from_arrow = stats.arrow_stats(table, columns, 0, 0, 100_000, grids)
    from_pandas = stats.partition_stats(table.to_pandas(), columns, 0, 0, 100_000, grids)
    for column in columns:
        a, p = from_arrow[column], from_pandas[column]
        assert (a.kind, a.dtype, a.family, a.n, a.nulls) == (p.kind, p.dtype, p.family, p.n,
                                                             p.nulls), column
        assert a.counts == p.counts and list(a.counts or []) == list(p.counts or []), column
        assert (a.first_is_str, a.last_is_str, a.runs) == (p.first_is_str, p.last_is_str,
                                                           p.runs), column
        assert (a.minimum, a.maximum) == (p.minimum, p.maximum), column
        assert a.mean == pytest.approx(p.mean, rel=1e-12) and \
            a.m2 == pytest.approx(p.m2, rel=1e-12), column
        assert (a.grid is None) == (p.grid is None), column
    assert from_arrow["f"].grid is not None and from_arrow["i"].grid is not None
    assert from_arrow["few"].grid is None  # counted instead
    assert stats.is_row_id(from_arrow["run"])


def test_grid_merges_and_bounds_its_error() -> None:
    rng = np.random.default_rng(5)
    ref = rng.lognormal(0.0, 1.0, 40_000)
    cur = rng.lognormal(0.05, 1.0, 30_000)
    low, high = float(min(ref.min(), cur.min())), float(max(ref.max(), cur.max()))

    def reduce(values: np.ndarray, step: int) -> stats.ColumnStats:
        parts = [stats.partition_stats(pd.DataFrame({"v": values[i:i + step]}), ["v"], 0, i,
                                       grids={"v": (low, high)})["v"]
                 for i in range(0, len(values), step)]
        return stats.merge(parts)

    r, c = reduce(ref, 7_000), reduce(cur, 30_000)
    whole = stats.partition_stats(pd.DataFrame({"v": ref}), ["v"], 0, 0,
                                  grids={"v": (low, high)})["v"]
    assert r.grid is not None and c.grid is not None and whole.grid is not None
    assert np.array_equal(r.grid.counts, whole.grid.counts)
    assert np.allclose(r.grid.fill, whole.grid.fill, rtol=1e-9, atol=1e-6)
    score, bound = stats.wasserstein_from_grids(r.grid, c.grid, r.std)
    exact = wasserstein_distance(ref, cur) / ref.std()
    assert abs(score - exact) <= bound and abs(score - exact) < 1e-5

    # a partition with few distinct values counts them; merged with continuous ones, its
    # counts join the grid
    rounded = np.round(ref[:5_000])
    mixed = stats.merge([reduce(rounded, 5_000), reduce(ref[5_000:], 35_000)])
    alone = stats.partition_stats(pd.DataFrame({"v": np.concatenate([rounded, ref[5_000:]])}),
                                  ["v"], 0, 0, grids={"v": (low, high)})["v"]
    assert mixed.counts is None and mixed.grid is not None and alone.grid is not None
    assert np.array_equal(mixed.grid.counts, alone.grid.counts)
    assert np.allclose(mixed.grid.fill, alone.grid.fill, rtol=1e-9, atol=1e-6)


def test_parquet_without_statistics_still_gives_wasserstein(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_client: object) -> None:
    rng = np.random.default_rng(6)
    for side, shift in (("ref", 0.0), ("cur", 0.3)):
        pq.write_table(pa.table({"x": rng.normal(shift, 1.0, 20_000)}),
                       tmp_path / f"{side}.parquet", write_statistics=False)
    assert open_table(tmp_path / "ref.parquet", "reference").ranges(["x"]) == {}
    monkeypatch.setattr(api, "LOCAL_FILE_BYTES", 0)
    result = wb.drift(tmp_path / "ref.parquet", tmp_path / "cur.parquet", engine="dask")
    assert result.columns["x"].stattest == "wasserstein" and result.columns["x"].drifted
    assert result.columns["x"].score == pytest.approx(0.3, abs=0.03)
