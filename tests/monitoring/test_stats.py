"""The pure statistics: merging partitions gives the whole table's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.monitoring import stats


def test_merged_partitions_equal_the_whole() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(5, 2, 9_000), "c": rng.choice(list("abc"), 9_000)})
    frame.loc[::7, "x"] = np.nan
    frame.loc[::11, "x"] = np.inf  # Evidently drops inf as it drops NaN
    whole = stats.partition_stats(frame, ["x", "c"], seed=0, index=0)
    parts = [stats.partition_stats(frame.iloc[i:i + 2_000], ["x", "c"], 0, i)
             for i in range(0, len(frame), 2_000)]
    for column in ("x", "c"):
        merged = stats.merge([p[column] for p in parts])
        assert (merged.n, merged.nulls) == (whole[column].n, whole[column].nulls)
        assert merged.counts == whole[column].counts
    merged = stats.merge([p["x"] for p in parts])
    finite = frame["x"][np.isfinite(frame["x"])]
    assert merged.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert merged.std == pytest.approx(finite.std(ddof=0), rel=1e-12)
    assert (merged.minimum, merged.maximum) == (finite.min(), finite.max())
    # partitions smaller than the per-partition sample keep every value (K-S relies on it)
    assert np.array_equal(np.sort(merged.sample), np.sort(finite.to_numpy()))


def test_partitions_of_different_dtypes_merge_to_one_kind() -> None:
    ints = stats.partition_stats(pd.DataFrame({"v": [1, 2, 3]}), ["v"], 0, 0)["v"]
    floats = stats.partition_stats(pd.DataFrame({"v": [1.5, None]}), ["v"], 0, 1)["v"]
    assert stats.merge([ints, floats]).kind == "float"
    objects = stats.partition_stats(pd.DataFrame({"v": ["a", "b"]}), ["v"], 0, 0)["v"]
    strings = stats.partition_stats(pd.DataFrame({"v": pd.Series(["a"], dtype="string")}),
                                    ["v"], 0, 1)["v"]
    merged = stats.merge([objects, strings])
    assert merged.kind == "string" and merged.counts == {"a": 2, "b": 1}
