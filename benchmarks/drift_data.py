"""Seeded reference/current tables for the drift benchmark: 15 numeric and 5 categorical columns.

Written as Parquet directories of 500k-row files, the layout a data lake hands a drift check.
The current table drifts in 6 of its 20 columns (shifted, rescaled, re-weighted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FILE_ROWS = 500_000
NUMERIC, CATEGORICAL = 15, 5
DRIFTED = ("num_0", "num_5", "num_10", "num_12", "cat_0", "cat_3")


def make_table(rows: int, seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(NUMERIC):
        name = f"num_{i}"
        moved = drift and name in DRIFTED
        shape = i % 5
        if shape == 0:
            values = rng.normal(0.5 if moved else 0.0, 1.0, rows)
        elif shape == 1:
            values = rng.lognormal(0.0, 1.3 if moved else 1.0, rows)
        elif shape == 2:
            values = rng.uniform(0.0, 1.2 if moved else 1.0, rows)
        elif shape == 3:
            values = rng.poisson(4.0, rows).astype(np.float64)  # few distinct values
        else:
            values = rng.standard_t(5, rows) * 10 + (5 if moved else 0)
        columns[name] = values
    for i in range(CATEGORICAL):
        name = f"cat_{i}"
        levels = [f"{name}_{k}" for k in range(3 + 7 * i)]
        weights = np.linspace(1.0, 2.0, len(levels))
        if drift and name in DRIFTED:
            weights = weights[::-1] ** 2
        codes = rng.choice(len(levels), rows, p=weights / weights.sum())
        columns[name] = pd.Categorical.from_codes(codes, levels)
    return pd.DataFrame(columns)


def write_table(path: Path, rows: int, seed: int, drift: bool) -> Path:
    """A directory of Parquet files holding `rows` rows, generated file by file (bounded memory)."""
    path.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, FILE_ROWS)):
        part = make_table(min(FILE_ROWS, rows - start), seed * 1000 + index, drift)
        part.to_parquet(path / f"part-{index:04d}.parquet", index=False)
    return path
