"""Odd dtypes, odd names, odd batches: still Evidently's verdicts, or a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests.monitoring.evidently_reference import evidently_verdicts
from workbench.errors import ConfigError
from workbench.monitoring import stats


def _agree(reference: pd.DataFrame, current: pd.DataFrame, column: str) -> None:
    method, score, _, drifted = evidently_verdicts(reference, current)[column]
    for engine in ("dask", "evidently"):
        got = wb.drift(reference, current, engine=engine).columns[column]
        assert got.method == method, engine
        assert got.score == pytest.approx(score, rel=1e-6, abs=1e-3), engine
        assert got.drifted == drifted, engine


def test_nullable_and_unsigned_reference_dtypes_compare_by_value() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(50, 10, 6_000)
    _agree(pd.DataFrame({"v": pd.array(values[:3_000], dtype="Float64")}),
           pd.DataFrame({"v": values[3_000:]}), "v")  # Wasserstein, no drift
    small = rng.integers(0, 500, 1_600)
    _agree(pd.DataFrame({"v": pd.array(small[:800], dtype="Int64")}),
           pd.DataFrame({"v": small[800:].astype(float)}), "v")  # K-S
    _agree(pd.DataFrame({"v": small[:800].astype("uint32")}),
           pd.DataFrame({"v": small[800:]}), "v")
    flags = rng.random(4_000) < 0.3
    _agree(pd.DataFrame({"v": pd.array(flags[:2_000], dtype="boolean")}),
           pd.DataFrame({"v": flags[2_000:]}), "v")  # Jensen-Shannon on two values


def test_unsigned_current_is_skipped_as_evidently_does_and_can_be_typed() -> None:
    frame = pd.DataFrame({"v": np.arange(2_000, dtype="uint32") % 97})
    result = wb.drift(frame, frame, engine="dask")
    assert "column_types" in result.skipped["v"]
    typed = wb.drift(frame, frame, engine="dask", column_types={"v": "numerical"})
    assert typed.columns["v"].stattest == "wasserstein" and typed.columns["v"].score == 0.0


def test_small_batch_against_a_many_valued_reference() -> None:
    """8 current rows make an int column categorical; the reference has 3k distinct values
    (over 1000 rows: a distance, not a p-value; Evidently takes quadratic time in the values).
    Some values repeat: a permutation of 0..2999 would be a row id, never tested."""
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"v": rng.integers(0, 4_000, 3_000)})
    current = pd.DataFrame({"v": np.array([1, 2, 3, 3, 5, 8, 8, 8])})
    _agree(reference, current, "v")


def test_bool_against_int_is_compared_not_refused() -> None:
    rng = np.random.default_rng(2)
    _agree(pd.DataFrame({"v": rng.random(900) < 0.5}),
           pd.DataFrame({"v": (rng.random(900) < 0.5).astype(int)}), "v")


def test_sparse_column_without_values_in_the_report_sample() -> None:
    rows = 30_000
    rng = np.random.default_rng(3)
    rare = np.full(rows, np.nan)
    rare[17] = 1.0
    frame = pd.DataFrame({"x": rng.normal(size=rows), "rare": rare})
    result = wb.drift(frame, frame.assign(x=frame["x"] + 1), engine="dask",
                      report_sample_rows=1_000)
    page = result.to_html()
    assert "Not in the report (no values in the sample): rare" in page


def test_script_in_names_and_values_cannot_run_in_the_notebook() -> None:
    attack = "</script><script>window.pwned=1</script>"
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({attack: rng.normal(size=300),
                          "label": rng.choice(["ok", attack], 300)})
    result = wb.drift(frame, frame.iloc[::-1].reset_index(drop=True), engine="evidently")
    assert set(result.columns) == {attack, "label"}  # verdicts keep the real names
    page = result.to_html()
    assert "window.pwned" in page and "<script>window.pwned" not in page
    assert 'sandbox="allow-scripts"' in result.report()._repr_html_()


def test_column_names_that_collide_as_metric_names_stay_apart(tracking: object) -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a?": rng.normal(size=2_000), "a!": rng.normal(size=2_000),
                              "größe/": rng.normal(size=2_000)})
    current = reference.assign(**{"a?": reference["a?"] + 3})
    wb.drift(reference, current, engine="dask").log(model="o'brien", version=1)
    history = wb.drift_history("o'brien")
    scores = [c for c in history.columns if c.startswith("drift.score.")]
    assert len(scores) == 3 and "drift.score.größe_" in scores
    assert max(history.loc[0, scores]) > 1  # the drifted column's score survived


def test_names_that_are_not_strings_and_repeated_columns() -> None:
    frame = pd.DataFrame(np.random.default_rng(6).normal(size=(100, 2)))
    with pytest.raises(ConfigError, match="column names that are not strings"):
        wb.drift(frame, frame)
    named = frame.rename(columns=str)
    assert list(wb.drift(named, named, columns=["0", "0"]).columns) == ["0"]
    assert [c.column for c in wb.validate(named, named, columns="0").checks
            if c.column] == ["0", "0", "0"]  # type, null_share, value_range of one column


def test_an_all_null_file_does_not_decide_a_column_type() -> None:
    text = stats.partition_stats(pd.DataFrame({"v": ["a", "b", None]}), ["v"], 0, 0)["v"]
    empty = stats.partition_stats(pd.DataFrame({"v": [np.nan, np.nan]}), ["v"], 0, 1)["v"]
    merged = stats.merge([empty, text])
    assert (merged.kind, merged.family, merged.n, merged.nulls) == ("object", "text", 2, 3)
