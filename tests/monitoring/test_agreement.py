"""Both engines agree with Evidently's DataDriftPreset run as a user runs it."""

from __future__ import annotations

import pytest

import workbench as wb
from tests.monitoring.data import mixed_table
from tests.monitoring.evidently_reference import evidently_verdicts

# (reference rows, current rows): <= 1000 reference rows gives p-value tests (K-S, chi-square, Z);
# more gives distances (Wasserstein, Jensen-Shannon); 20k current rows with a small reference
# makes K-S take scipy's asymptotic p-value instead of the exact one.
SIZES = [(400, 600), (900, 20_000), (5_000, 4_000), (20_000, 15_000)]


@pytest.mark.parametrize(("ref_rows", "cur_rows"), SIZES)
@pytest.mark.parametrize("shift", [0.0, 0.25])
def test_engines_match_evidently(ref_rows: int, cur_rows: int, shift: float) -> None:
    reference = mixed_table(ref_rows, seed=ref_rows)
    current = mixed_table(cur_rows, seed=cur_rows + 1, shift=shift)
    # Evidently trains a text classifier for the free-text column (95% of its time here): the
    # smallest size keeps it, to show workbench skips text, the others leave it out.
    with_text = (ref_rows, cur_rows) == SIZES[0]
    if not with_text:
        reference, current = reference.drop(columns="comment"), current.drop(columns="comment")
    expected = evidently_verdicts(reference, current)
    streamed = wb.drift(reference, current, engine="dask")
    wrapped = wb.drift(reference, current, engine="evidently")

    # Evidently tests the free-text column with a text classifier; workbench skips text.
    assert set(expected) - set(streamed.columns) == ({"comment"} if with_text else set())
    if with_text:
        assert "text" in streamed.skipped["comment"]
    assert set(streamed.columns) == set(wrapped.columns)
    for name, (method, score, threshold, drifted) in expected.items():
        if name == "comment":
            continue
        for result in (streamed, wrapped):
            got = result.columns[name]
            assert (got.method, got.threshold) == (method, threshold), name
            exact = result is wrapped or got.stattest != "wasserstein"
            assert got.score == pytest.approx(score, rel=1e-9 if exact else 0, abs=1e-12
                                              if exact else 1e-3), name
            if abs(score - threshold) > 0.01 * threshold:
                assert got.drifted == drifted, name
    tests = {c.stattest for c in streamed.columns.values()}
    if ref_rows <= 1000:
        assert tests == {"ks", "z", "chisquare"}
    else:
        assert tests == {"wasserstein", "jensenshannon"}
    if shift:
        assert streamed.drifted_columns, "a shifted table must drift somewhere"
    else:
        assert not streamed.drifted


def test_wasserstein_error_bound_covers_the_error() -> None:
    reference = mixed_table(40_000, seed=1)
    current = mixed_table(50_000, seed=2, shift=0.05)
    expected = evidently_verdicts(reference, current)
    streamed = wb.drift(reference, current, engine="dask")
    for name in ("normal", "skewed", "heavy_tail", "with_nulls"):
        got = streamed.columns[name]
        assert got.stattest == "wasserstein"
        assert abs(got.score - expected[name][1]) <= got.score_error_bound + 1e-12


def test_column_types_follow_evidently_and_can_be_overridden() -> None:
    reference = mixed_table(2_000, seed=3)
    current = mixed_table(2_000, seed=4)
    result = wb.drift(reference, current, engine="dask")
    kinds = {c: d.column_type for c, d in result.columns.items()}
    assert kinds["small_int"] == "categorical"  # int with <= 10 distinct values
    assert kinds["wide_int"] == "numerical"
    assert kinds["flag"] == kinds["colour"] == "categorical"
    overridden = wb.drift(reference, current, engine="dask",
                          column_types={"small_int": "numerical", "normal": "skip"})
    assert overridden.columns["small_int"].column_type == "numerical"
    assert overridden.columns["small_int"].stattest == "jensenshannon"  # numeric, <= 5 values
    assert "normal" in overridden.skipped
    evidently = wb.drift(reference, current, engine="evidently",
                         column_types={"small_int": "numerical"})
    assert evidently.columns["small_int"].score == pytest.approx(
        overridden.columns["small_int"].score, rel=1e-9)
