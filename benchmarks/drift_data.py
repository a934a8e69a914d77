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


CARRIERS = ("UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9", "YV",
            "HA", "OO")
ORIGINS = ("EWR", "JFK", "LGA")
TAILS = 4_000  # aircraft: thousands of distinct id strings


def make_flights(rows: int, seed: int, months: tuple[int, ...], start: int = 0) -> pd.DataFrame:
    """A year of airline flights as a user's CSV holds them (shaped like nycflights13): a row
    index, an aircraft id (thousands of distinct strings), an ISO timestamp, categorical carriers
    and airports, delays with missing values for cancelled flights, and a 0/1 target. Winter
    months (December, January) have more and longer delays and another carrier mix."""
    rng = np.random.default_rng(seed)
    month = rng.choice(months, rows)
    day = rng.integers(1, 29, rows)
    winter = np.isin(month, (12, 1, 2))
    sched_dep = rng.integers(5, 23, rows) * 100 + rng.choice([0, 15, 30, 45, 59], rows)
    cancelled = rng.random(rows) < np.where(winter, 0.05, 0.02)
    delay = np.round(rng.exponential(np.where(winter, 22.0, 12.0), rows)
                     - rng.exponential(6.0, rows))
    dep_delay = np.where(cancelled, np.nan, delay)
    hour, minute = sched_dep // 100, sched_dep % 100
    dep_time = np.where(cancelled, np.nan, (sched_dep + dep_delay) % 2400)
    air_time = np.where(cancelled, np.nan, np.round(rng.gamma(6.0, 25.0, rows)))
    distance = (air_time * 8 + rng.integers(-40, 40, rows)).round()
    sched_arr = (sched_dep + np.nan_to_num(air_time, nan=120).astype(int) + 40) % 2400
    arr_delay = dep_delay + np.round(rng.normal(-5.0, 12.0, rows))
    weights = np.linspace(2.0, 0.2, len(CARRIERS))
    if winter.mean() > 0.5:
        weights = weights[::-1] ** 0.7
    tails = np.array([f"N{100 + i}{'ABCDEFGHJK'[i % 10]}{'QRSTUVWXYZ'[i // 10 % 10]}"
                      for i in range(TAILS)], dtype=object)
    tailnum = tails[rng.integers(0, TAILS, rows)]
    tailnum[rng.random(rows) < 0.01] = None
    dests = np.array([f"D{i:02d}" for i in range(100)], dtype=object)
    frame = pd.DataFrame({
        "year": 2013, "month": month, "day": day, "dep_time": dep_time,
        "sched_dep_time": sched_dep, "dep_delay": dep_delay, "arr_time": (sched_arr + np.nan_to_num(
            arr_delay)) % 2400, "sched_arr_time": sched_arr, "arr_delay": arr_delay,
        "carrier": rng.choice(CARRIERS, rows, p=weights / weights.sum()),
        "flight": rng.integers(1, 8_500, rows), "tailnum": tailnum,
        "origin": rng.choice(ORIGINS, rows), "dest": dests[rng.zipf(1.6, rows) % 100],
        "air_time": air_time, "distance": distance, "hour": hour, "minute": minute,
        "time_hour": [f"2013-{m:02d}-{d:02d} {h:02d}:00:00" for m, d, h in zip(month, day, hour,
                                                                                 strict=True)],
        "delayed": (np.nan_to_num(arr_delay, nan=60.0) > 15).astype(int),
    })
    frame.index = pd.RangeIndex(start, start + rows)
    return frame


def write_flights(directory: Path, reference_rows: int = 160_000,
                  current_rows: int = 36_000) -> tuple[Path, Path]:
    """reference.csv (January to June, ~18 MB) and current.csv (December, ~4 MB), each with the
    row index pandas writes (an unnamed first column)."""
    directory.mkdir(parents=True, exist_ok=True)
    reference, current = directory / "reference.csv", directory / "current.csv"
    make_flights(reference_rows, 11, (1, 2, 3, 4, 5, 6)).to_csv(reference)
    make_flights(current_rows, 12, (12,), start=reference_rows).to_csv(current)
    return reference, current
