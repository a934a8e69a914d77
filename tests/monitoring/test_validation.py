"""The data gate: schema, nulls, new categories and value ranges, pass or fail per check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from tests.monitoring.data import mixed_table


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return mixed_table(4_000, seed=30).drop(columns="comment")


def _check(result: wb.ValidationResult, name: str, column: str | None = None) -> object:
    (found,) = [c for c in result.checks if c.name == name and c.column == column]
    return found


def test_same_distribution_passes(reference: pd.DataFrame) -> None:
    current = mixed_table(3_000, seed=31).drop(columns="comment")
    result = wb.validate(reference, current, out_of_range_tolerance=0.01)
    assert result.passed, result.summary()
    names = {c.name for c in result.checks}
    assert names == {"schema", "type", "null_share", "new_categories", "value_range"}


def test_each_problem_fails_its_own_check(reference: pd.DataFrame) -> None:
    current = mixed_table(3_000, seed=32).drop(columns=["comment", "flag"])
    current["normal"] = np.where(np.arange(3_000) < 600, np.nan, current["normal"])  # 20% null
    current["colour"] = np.where(np.arange(3_000) % 10 == 0, "purple", current["colour"])
    current["skewed"] = current["skewed"] + 100.0  # every value above the reference range
    result = wb.validate(reference, current)
    assert not result.passed
    failed = {(c.name, c.column) for c in result.failed}
    assert failed == {("schema", None), ("null_share", "normal"), ("new_categories", "colour"),
                      ("value_range", "skewed")}
    assert "missing in current: flag" in _check(result, "schema").detail  # type: ignore[attr-defined]
    assert "'purple'" in _check(result, "new_categories", "colour").detail  # type: ignore[attr-defined]
    assert _check(result, "value_range", "skewed").observed == 1.0  # type: ignore[attr-defined]
    assert "validation failed: 4 of" in result.summary()
    frame = result.to_frame()
    assert set(frame.columns) >= {"name", "column", "passed", "detail"}


def test_type_change_fails_the_type_check(reference: pd.DataFrame) -> None:
    current = reference.assign(wide_int=reference["wide_int"].astype(str))
    result = wb.validate(reference, current)
    assert ("type", "wide_int") in {(c.name, c.column) for c in result.failed}
