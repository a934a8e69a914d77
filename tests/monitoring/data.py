"""Seeded tables whose columns make Evidently pick each of its default tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_table(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Numeric (continuous, few values, binary), integer, categorical, boolean and text columns.

    `shift` in [0, 0.5] moves every column's distribution a little (0: no drift).
    """
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "normal": rng.normal(shift, 1.0, rows),
        "skewed": rng.exponential(1.0 + shift, rows),
        "heavy_tail": rng.standard_t(3, rows) * 10 + 20 * shift,
        "few_values": rng.choice([0.0, 1.5, 2.0, 3.0], rows,
                                 p=[0.4, 0.3, 0.2 - shift / 5, 0.1 + shift / 5]),
        "binary_float": rng.choice([0.0, 1.0], rows, p=[0.5 + shift / 2, 0.5 - shift / 2]),
        "small_int": rng.integers(0, 4, rows) + (rng.random(rows) < shift).astype(int),
        "wide_int": rng.integers(0, 100, rows) + int(shift * 20),
        "colour": rng.choice(list("abcde"), rows,
                             p=[0.2, 0.2, 0.2, 0.2 - shift / 5, 0.2 + shift / 5]),
        "answer": rng.choice(["yes", "no"], rows, p=[0.5 + shift / 4, 0.5 - shift / 4]),
        "flag": rng.random(rows) < 0.3 + shift / 3,
        "with_nulls": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(shift, 2.0, rows)),
        "comment": [f"free text {seed}-{i} about item {rng.integers(1e9)}" for i in range(rows)],
    })
