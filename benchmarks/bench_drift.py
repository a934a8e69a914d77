"""Drift benchmark: workbench's dask engine against Evidently's DataDriftPreset, side by side.

    python benchmarks/bench_drift.py            # 100k, 1M, 10M rows (about 6 min on 2 cores)
    python benchmarks/bench_drift.py --quick    # 100k and 1M rows, Evidently at 100k only
    python benchmarks/bench_drift.py --out results.json --check

Reference and current tables of N rows x 20 columns (15 numeric, 5 categorical; 6 columns drift)
are written as Parquet directories (500k-row files). For each size:

- workbench: `wb.drift(ref_dir, cur_dir, engine="dask")` on a 2-worker LocalCluster, timed from
  the call to the verdicts, reading the Parquet itself; the fastest of 2 runs (both in the JSON).
  Peak memory is the highest sum of the resident memory of this process and every worker
  process, sampled every 50 ms.
- Evidently: `Report([DataDriftPreset()]).run(current, reference)` in a fresh subprocess on the
  same data read into pandas; the time is `run` alone (reading excluded, in Evidently's favour),
  peak memory is the subprocess's peak resident memory (its data included). Evidently is not run
  where it would not finish in reasonable time (10M rows: ~25 min and ~16 GB by extrapolation).

Verdicts are compared column by column; Wasserstein scores to 1e-3 (the dask engine computes them
from quantile bins), every other score exactly. Prints a table, writes JSON (default
benchmarks/results/drift.json). Exit 1 when verdicts disagree (and with --check, when an aim is
missed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift_data import DRIFTED, write_table

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "drift.json"
AIMS = {"speedup_at_1m_min": 30.0, "dask_10m_seconds_max": 30.0, "dask_10m_peak_gib_max": 4.0}
FULL = {"sizes": [100_000, 1_000_000, 10_000_000], "evidently_max_rows": 1_000_000}
QUICK = {"sizes": [100_000, 1_000_000], "evidently_max_rows": 100_000}

EVIDENTLY_SCRIPT = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
seconds = time.perf_counter() - start
data = json.loads(snapshot.json())
columns = {}
for m in data["metrics"]:
    c = m["config"]
    if c["type"] == "evidently:metric_v2:ValueDrift":
        columns[c["column"]] = {"method": c["method"], "score": m["value"],
                                "threshold": c["threshold"]}
for t in data["tests"]:
    p = t["metric_config"]["params"]
    if p["type"] == "evidently:metric_v2:ValueDrift":
        columns[p["column"]]["drifted"] = t["status"] == "FAIL"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_bytes": peak, "columns": columns}))
"""


class PeakMemory:
    """Highest total resident memory of this process and its children, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._me = psutil.Process()
        self._interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            with contextlib.suppress(Exception):  # a process that just exited
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._total())

    def __enter__(self) -> PeakMemory:
        self.peak = self._total()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


def run_dask(wb: Any, ref_dir: Path, cur_dir: Path, repeats: int = 2) -> dict[str, Any]:
    """The fastest of `repeats` runs (a first run at a new size also pays the workers' first
    touch of that much memory); peak memory over all of them."""
    times = []
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            result = wb.drift(ref_dir, cur_dir, engine="dask")
            times.append(time.perf_counter() - start)
    return {"seconds": min(times), "runs_s": times, "peak_bytes": memory.peak,
            "columns": {c: {"method": d.method, "score": d.score, "threshold": d.threshold,
                            "drifted": d.drifted, "bound": d.score_error_bound}
                        for c, d in result.columns.items()},
            "drifted_columns": result.drifted_columns, "skipped": result.skipped}


def run_evidently(ref_dir: Path, cur_dir: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", EVIDENTLY_SCRIPT, str(ref_dir), str(cur_dir)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Evidently failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Disagreements: a different test, a score off, or a different verdict."""
    problems = []
    worst = 0.0
    for column, expected in theirs.items():
        got = ours.get(column)
        if got is None:
            problems.append(f"{column}: not tested by workbench")
            continue
        tolerance = 1e-3 if expected["method"].startswith("Wasserstein") else 1e-9
        error = abs(got["score"] - expected["score"])
        worst = max(worst, error)
        if got["method"] != expected["method"]:
            problems.append(f"{column}: {got['method']} vs {expected['method']}")
        elif error > tolerance * max(1.0, abs(expected["score"])):
            problems.append(f"{column}: score {got['score']} vs {expected['score']}")
        near = abs(expected["score"] - expected["threshold"]) <= 0.01 * expected["threshold"]
        if got["drifted"] != expected["drifted"] and not near:
            problems.append(f"{column}: drifted {got['drifted']} vs {expected['drifted']}")
    return {"identical_verdicts": not problems, "problems": problems, "max_score_error": worst}


def environment() -> dict[str, Any]:
    import dask
    import evidently
    import pandas

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "evidently": evidently.__version__,
            "dask": dask.__version__, "pandas": pandas.__version__,
            "loadavg_start": list(os.getloadavg())}


def report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"drift: wb.drift(engine='dask') vs Evidently DataDriftPreset "
                        f"({results['mode']}, {results['environment']['cpus']} cpus)")
    for name in ("rows x 20 cols", "workbench s", "workbench peak", "Evidently s",
                 "Evidently peak", "speedup", "verdicts"):
        table.add_column(name, justify="right")
    for row in results["sizes"]:
        ev = row.get("evidently")
        table.add_row(
            f"{row['rows']:,}", f"{row['dask']['seconds']:.1f}",
            f"{row['dask']['peak_bytes'] / 2**30:.2f} GiB",
            f"{ev['seconds']:.1f}" if ev else "not run",
            f"{ev['peak_bytes'] / 2**30:.2f} GiB" if ev else "",
            f"{row['speedup']:.0f}x" if ev else "",
            ("identical" if row["agreement"]["identical_verdicts"] else "DIFFER") if ev else
            f"{len(row['dask']['drifted_columns'])} drifted (expected {len(DRIFTED)})")
    Console(width=max(Console().width, 120)).print(table)
    for name, ok in results["aims"].items():
        print(f"  aim {name}: {'met' if ok else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the generated Parquet here and reuse it next time")
    parser.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    scratch = Path(tempfile.mkdtemp(prefix="wb-drift-bench-"))
    data_root = args.data or scratch / "data"
    os.environ["WORKBENCH_HOME"] = str(scratch / "home")
    os.environ.pop("WORKBENCH_SCHEDULER", None)
    import workbench as wb

    results: dict[str, Any] = {"mode": "quick" if args.quick else "full",
                               "environment": environment(), "sizes": []}
    try:
        started = time.perf_counter()
        wb.cluster(n_workers=2)
        results["cluster_start_s"] = time.perf_counter() - started
        for rows in config["sizes"]:
            ref_dir, cur_dir = (data_root / str(rows) / side for side in ("reference", "current"))
            if not (ref_dir.exists() and cur_dir.exists()):
                write_table(ref_dir, rows, seed=1, drift=False)
                write_table(cur_dir, rows, seed=2, drift=True)
            row: dict[str, Any] = {"rows": rows, "dask": run_dask(wb, ref_dir, cur_dir)}
            runs = ", ".join(f"{t:.1f}" for t in row["dask"]["runs_s"])
            print(f"{rows:>11,} rows: workbench {runs} s", flush=True)
            if rows <= config["evidently_max_rows"]:
                row["evidently"] = run_evidently(ref_dir, cur_dir)
                row["speedup"] = row["evidently"]["seconds"] / row["dask"]["seconds"]
                row["agreement"] = compare(row["dask"]["columns"], row["evidently"]["columns"])
                print(f"{'':>17}Evidently {row['evidently']['seconds']:.1f}s", flush=True)
            results["sizes"].append(row)
    finally:
        from workbench.dask_cluster import shutdown

        shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    by_rows = {r["rows"]: r for r in results["sizes"]}
    aims: dict[str, bool] = {}
    if 1_000_000 in by_rows and "speedup" in by_rows[1_000_000]:
        aims["speedup_at_1m_min"] = by_rows[1_000_000]["speedup"] >= AIMS["speedup_at_1m_min"]
    if 10_000_000 in by_rows:
        big = by_rows[10_000_000]["dask"]
        aims["dask_10m_seconds_max"] = big["seconds"] < AIMS["dask_10m_seconds_max"]
        aims["dask_10m_peak_gib_max"] = big["peak_bytes"] / 2**30 < AIMS["dask_10m_peak_gib_max"]
    results["aims"] = aims
    results["targets"] = AIMS
    results["environment"]["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    report(results)
    agree = all(r["agreement"]["identical_verdicts"] for r in results["sizes"] if "agreement" in r)
    if not agree:
        for r in results["sizes"]:
            for problem in r.get("agreement", {}).get("problems", []):
                print(f"  {r['rows']:,} rows: {problem}")
    return 0 if agree and (not args.check or all(aims.values())) else 1


if __name__ == "__main__":
    sys.exit(main())
