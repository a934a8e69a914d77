"""Paths, dask frames, data larger than a worker's memory, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests.monitoring.data import mixed_table
from workbench.dask_cluster import live_workers
from workbench.errors import ConfigError


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return mixed_table(6_000, seed=10).drop(columns="comment"), \
        mixed_table(5_000, seed=11, shift=0.2).drop(columns="comment")


def _same(a: wb.DriftResult, b: wb.DriftResult) -> None:
    assert set(a.columns) == set(b.columns)
    for name, got in a.columns.items():
        assert got.stattest == b.columns[name].stattest
        assert got.score == pytest.approx(b.columns[name].score, abs=1e-3), name
        assert got.drifted == b.columns[name].drifted, name


def test_parquet_csv_and_dask_inputs_give_the_pandas_verdicts(
        tmp_path: Path, tables: tuple[pd.DataFrame, pd.DataFrame], dask_client: object) -> None:
    import dask.dataframe as dd

    reference, current = tables
    expected = wb.drift(reference, current, engine="dask")
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    for i, part in enumerate(np.array_split(reference, 3)):
        part.to_parquet(ref_dir / f"part-{i}.parquet")
    current.to_csv(tmp_path / "current.csv", index=False)
    from_files = wb.drift(ref_dir, tmp_path / "current.csv", engine="dask")
    _same(from_files, expected)
    assert from_files.reference_rows == len(reference)
    assert from_files.current_source.endswith("current.csv")
    from_dask = wb.drift(dd.from_pandas(reference, npartitions=4),
                         dd.from_pandas(current, npartitions=3), engine="dask")
    _same(from_dask, expected)


def test_parquet_larger_than_worker_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           dask_client: object) -> None:
    """A 7.5M x 10 table (600 MB in memory) through workers limited to 450 MB each (a worker
    process holds ~250-280 MB before any task: a 350 MB limit paused both at 80% and stalled)."""
    from distributed import LocalCluster

    from workbench.dask_cluster import shutdown

    rows_per_file, files, width = 250_000, 30, 10
    ref_dir, cur_dir = tmp_path / "ref", tmp_path / "cur"
    ref_dir.mkdir()
    cur_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(files):
        block = rng.normal(size=(rows_per_file, width))
        pd.DataFrame(block, columns=[f"x{j}" for j in range(width)]).to_parquet(
            ref_dir / f"part-{i}.parquet")
    current = pd.DataFrame(rng.normal(size=(200_000, width)) + np.eye(width)[0] * 0.3,
                           columns=[f"x{j}" for j in range(width)])
    current.to_parquet(cur_dir / "part-0.parquet")
    in_memory = rows_per_file * files * width * 8
    limit = 450 * 2**20
    assert in_memory > limit

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=limit,
                      host="127.0.0.1", dashboard_address=None) as small:
        monkeypatch.setenv("WORKBENCH_SCHEDULER", small.scheduler_address)
        try:
            result = wb.drift(ref_dir, cur_dir, engine="dask")
            client = wb.cluster()
            restarts = [e for _, e in client.get_events("all") if "restart" in str(e)]
            assert len(live_workers(client)) == 2  # no worker was killed
        finally:
            shutdown()
    assert not restarts
    assert result.reference_rows == rows_per_file * files
    assert result.columns["x0"].drifted and result.drifted_columns == ["x0"]
    assert result.columns["x0"].score == pytest.approx(0.3, abs=0.02)  # a 0.3 std shift


def test_auto_engine_picks_evidently_for_small_frames_and_dask_for_large(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    assert wb.drift(reference, current).engine == "evidently"
    big = pd.concat([reference] * 5, ignore_index=True)
    assert wb.drift(big, pd.concat([current] * 5, ignore_index=True)).engine == "dask"


def test_different_columns_are_named(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    with pytest.raises(ConfigError, match=r"only in reference: normal; only in current: extra"):
        wb.drift(reference, current.drop(columns="normal").assign(extra=1.0))
    result = wb.drift(reference, current.assign(extra=1.0), columns=["normal", "colour"])
    assert set(result.columns) == {"normal", "colour"}
    with pytest.raises(ConfigError, match=r"reference has no column\(s\) missing; its columns"):
        wb.drift(reference, current, columns=["normal", "missing"])


def test_empty_side_is_refused(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    with pytest.raises(ConfigError, match="current data has no rows"):
        wb.drift(reference, current.iloc[:0])


def test_all_null_column_is_skipped_with_the_reason(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    result = wb.drift(reference, current.assign(normal=np.nan), engine="dask")
    assert result.skipped["normal"] == "all values are null or infinite in current"
    assert "normal" not in result.columns and len(result.columns) == len(current.columns) - 1
    evidently = wb.drift(reference, current.assign(normal=np.nan), engine="evidently")
    assert evidently.skipped == result.skipped


def test_numeric_in_one_text_in_the_other_is_refused(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    with pytest.raises(ConfigError, match=r"column 'normal' is numeric \(float64\) in reference "
                                          r"but text/categorical \(object\) in current"):
        wb.drift(reference, current.assign(normal=current["normal"].astype(str)))


def test_unseen_categories_drift_and_do_not_crash(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    moved = current.assign(colour=np.where(np.arange(len(current)) % 3 == 0, "new", "a"))
    for engine in ("dask", "evidently"):
        result = wb.drift(reference.head(800), moved, engine=engine)  # chi-square
        assert result.columns["colour"].stattest == "chisquare"
        assert result.columns["colour"].drifted and result.columns["colour"].score == 0.0


def test_id_like_columns_are_reported_and_skipped(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    reference = reference.assign(user_id=[f"u{i}" for i in range(len(reference))])
    current = current.assign(user_id=[f"v{i}" for i in range(len(current))])
    result = wb.drift(reference, current, engine="dask")
    assert "id" in result.skipped["user_id"] and "user_id" not in result.columns


@pytest.mark.parametrize(("path", "message"), [
    ("nowhere.parquet", "does not exist"),
    ("notes.txt", "is not Parquet or CSV"),
])
def test_bad_paths(tmp_path: Path, tables: tuple[pd.DataFrame, pd.DataFrame], path: str,
                   message: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=message):
        wb.drift(tables[0], tmp_path / path)


def test_bad_engine_and_override(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(ConfigError, match="engine must be one of"):
        wb.drift(*tables, engine="spark")
    with pytest.raises(ConfigError, match="must be one of numerical, categorical, skip"):
        wb.drift(*tables, column_types={"normal": "continuous"})
    with pytest.raises(ConfigError, match="cannot be numerical"):
        wb.drift(*tables, column_types={"colour": "numerical"})


def test_nothing_testable_is_a_result_without_a_report(
        tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = tables
    result = wb.drift(reference[["colour"]], current[["colour"]].assign(colour=None))
    assert not result.columns and not result.drifted
    assert result.skipped == {"colour": "all values are null or infinite in current"}
    assert "skipped" in result._repr_html_()
    with pytest.raises(ConfigError, match="no column could be tested"):
        result.to_html()
