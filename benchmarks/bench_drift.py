"""Drift benchmark: workbench's dask engine against Evidently's DataDriftPreset, side by side.

    python benchmarks/bench_drift.py            # 100k, 1M, 10M rows (about 6 min on 2 cores)
    python benchmarks/bench_drift.py --quick    # 100k and 1M rows, Evidently at 100k only
    python benchmarks/bench_drift.py --huge     # and 100M rows (~21 GB of Parquet in a temp dir)
    python benchmarks/bench_drift.py --out results.json --check

Reference and current tables of N rows x 20 columns (15 numeric, 5 categorical; 6 columns drift)
are written as Parquet directories (500k-row files). For each size:

- workbench: `wb.drift(ref_dir, cur_dir, engine="dask")`, timed from the call to the verdicts,
  reading the Parquet itself: in this process when both sides are small files (up to 256 MiB),
  else on a 2-worker LocalCluster; the fastest of 2 runs (both in the JSON). Peak memory is the
  highest sum of the resident memory of this process and every worker process, sampled every
  50 ms.
- Evidently: `Report([DataDriftPreset()]).run(current, reference)` in a fresh subprocess on the
  same data read into pandas; the time is `run` alone (reading excluded, in Evidently's favour),
  peak memory is the subprocess's peak resident memory (its data included). Evidently is not run
  where it would not finish in reasonable time (10M rows: ~25 min and ~16 GB by extrapolation).

Verdicts are compared column by column; Wasserstein scores to 1e-3 (the dask engine computes them
on a fine grid), every other score exactly.

The CSV row: a year of airline flights as two CSV files (~18 MB of January to June, ~4 MB of
December; a row index, an aircraft id, an ISO timestamp, carriers and airports, delays with
missing values, a 0/1 target), `workbench drift reference.csv current.csv --json` against
`wb.drift(reference, current)` on the frames `pandas.read_csv` loaded, each in a fresh process and
timed inside it (process start, and for the frames their reading, excluded), fastest of 3.

Prints a table, writes JSON (default benchmarks/results/drift.json). Exit 1 when verdicts
disagree (and with --check, when an aim is missed).
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
from drift_data import DRIFTED, write_flights, write_table

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "drift.json"
AIMS = {"speedup_at_1m_min": 30.0, "dask_10m_seconds_max": 6.0, "dask_10m_peak_gib_max": 4.0,
        "dask_100m_seconds_max": 90.0, "dask_100m_peak_gib_max": 4.0, "csv_cli_ratio_max": 2.0}
FULL = {"sizes": [100_000, 1_000_000, 10_000_000], "evidently_max_rows": 1_000_000}
QUICK = {"sizes": [100_000, 1_000_000], "evidently_max_rows": 100_000}
HUGE_ROWS = 100_000_000
PARQUET_BYTES_PER_ROW = 215  # both sides, on disk: to check the free space before writing
CSV_REPEATS = 3

CLI_SCRIPT = r"""
import json, sys, time
from click.testing import CliRunner
from workbench.cli import cli
start = time.perf_counter()
out = CliRunner().invoke(cli, ["drift", sys.argv[1], sys.argv[2], "--json"])
seconds = time.perf_counter() - start
data = json.loads(out.output)
print(json.dumps({"seconds": seconds, "engine": data["engine"], "skipped": data["skipped"],
                  "drifted": sorted(c for c, v in data["columns"].items() if v["drifted"])}))
"""

FRAMES_SCRIPT = r"""
import json, sys, time
import pandas as pd
import workbench as wb
reference, current = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
start = time.perf_counter()
result = wb.drift(reference, current)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "engine": result.engine, "skipped": result.skipped,
                  "drifted": sorted(result.drifted_columns)}))
"""

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
            "drifted_columns": result.drifted_columns, "skipped": result.skipped,
            "where": "in-process" if _small(ref_dir, cur_dir) else "cluster"}


def _small(*paths: Path) -> bool:
    from workbench.monitoring.api import small_files
    from workbench.monitoring.tables import open_table

    return small_files(*(open_table(p, "side") for p in paths))


def run_csv(directory: Path) -> dict[str, Any]:
    """The CLI on two CSV files against wb.drift on the frames pandas read from them: each run
    in a fresh process, timed inside it; the fastest of CSV_REPEATS, interleaved."""
    reference, current = write_flights(directory)
    runs: dict[str, list[dict[str, Any]]] = {"cli": [], "frames": []}
    for _ in range(CSV_REPEATS):
        for name, script in (("cli", CLI_SCRIPT), ("frames", FRAMES_SCRIPT)):
            done = subprocess.run([sys.executable, "-c", script, str(reference), str(current)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the {name} run failed: {done.stderr[-2000:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    cli, frames = (min(runs[n], key=lambda r: r["seconds"]) for n in ("cli", "frames"))
    same = all((r["drifted"], r["skipped"]) == (frames["drifted"], frames["skipped"])
               for r in runs["cli"])
    return {"reference_mb": reference.stat().st_size / 1e6,
            "current_mb": current.stat().st_size / 1e6,
            "cli_s": cli["seconds"], "frames_s": frames["seconds"],
            "cli_runs_s": [r["seconds"] for r in runs["cli"]],
            "frames_runs_s": [r["seconds"] for r in runs["frames"]],
            "ratio": cli["seconds"] / frames["seconds"], "engine": cli["engine"],
            "same_verdicts": same, "drifted": cli["drifted"], "skipped": cli["skipped"]}


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

    console = Console(width=max(Console().width, 130))
    table = Table(title=f"drift: wb.drift(engine='dask') vs Evidently DataDriftPreset "
                        f"({results['mode']}, {results['environment']['cpus']} cpus)")
    for name in ("rows x 20 cols", "read", "workbench s", "workbench peak", "Evidently s",
                 "Evidently peak", "speedup", "verdicts"):
        table.add_column(name, justify="right")
    for row in results["sizes"]:
        ev = row.get("evidently")
        table.add_row(
            f"{row['rows']:,}", row["dask"].get("where", ""), f"{row['dask']['seconds']:.1f}",
            f"{row['dask']['peak_bytes'] / 2**30:.2f} GiB",
            f"{ev['seconds']:.1f}" if ev else "not run",
            f"{ev['peak_bytes'] / 2**30:.2f} GiB" if ev else "",
            f"{row['speedup']:.0f}x" if ev else "",
            ("identical" if row["agreement"]["identical_verdicts"] else "DIFFER") if ev else
            f"{len(row['dask']['drifted_columns'])} drifted (expected {len(DRIFTED)})")
    console.print(table)
    csv = results.get("csv")
    if csv:
        rows = Table(title="CSV: `workbench drift reference.csv current.csv` vs wb.drift on the "
                           "frames pandas read (each in a fresh process, start excluded)")
        for name in ("files", "CLI s", "wb.drift on frames s", "ratio", "engine", "verdicts"):
            rows.add_column(name, justify="right")
        rows.add_row(f"{csv['reference_mb']:.0f} MB + {csv['current_mb']:.0f} MB",
                     f"{csv['cli_s']:.2f}", f"{csv['frames_s']:.2f}", f"{csv['ratio']:.2f}x",
                     csv["engine"], "identical" if csv["same_verdicts"] else "DIFFER")
        console.print(rows)
    for name, ok in results["aims"].items():
        print(f"  aim {name}: {'met' if ok else 'NOT met'}")


def _room_for(rows: int, where: Path) -> bool:
    """Enough free disk for a size's Parquet (with a 20% margin)."""
    where.mkdir(parents=True, exist_ok=True)
    need = rows * PARQUET_BYTES_PER_ROW * 1.2
    free = shutil.disk_usage(where).free
    if free < need:
        print(f"{rows:>11,} rows: skipped, {need / 1e9:.0f} GB of Parquet needs more than the "
              f"{free / 1e9:.0f} GB free under {where}", flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--huge", action="store_true",
                        help=f"add {HUGE_ROWS:,} rows (workbench only; ~21 GB of Parquet, "
                             "removed afterwards unless --data keeps it)")
    parser.add_argument("--no-csv", action="store_true", help="leave out the CSV row")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the generated Parquet here and reuse it next time")
    parser.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    sizes = [*config["sizes"], *([HUGE_ROWS] if args.huge else [])]
    scratch = Path(tempfile.mkdtemp(prefix="wb-drift-bench-"))
    data_root = args.data or scratch / "data"
    os.environ["WORKBENCH_HOME"] = str(scratch / "home")
    os.environ.pop("WORKBENCH_SCHEDULER", None)
    import workbench as wb

    results: dict[str, Any] = {"mode": ("quick" if args.quick else "full")
                               + (" + huge" if args.huge else ""),
                               "environment": environment(), "sizes": []}
    try:
        if not args.no_csv:
            results["csv"] = run_csv(scratch / "flights")
            csv = results["csv"]
            print(f"{'CSV':>11}: CLI {csv['cli_s']:.2f} s, wb.drift on frames "
                  f"{csv['frames_s']:.2f} s ({csv['ratio']:.2f}x)", flush=True)
        started = time.perf_counter()
        wb.cluster(n_workers=2)
        results["cluster_start_s"] = time.perf_counter() - started
        for rows in sizes:
            ref_dir, cur_dir = (data_root / str(rows) / side for side in ("reference", "current"))
            if not (ref_dir.exists() and cur_dir.exists()):
                if not _room_for(rows, data_root):
                    continue
                write_table(ref_dir, rows, seed=1, drift=False)
                write_table(cur_dir, rows, seed=2, drift=True)
            row: dict[str, Any] = {"rows": rows, "dask": run_dask(wb, ref_dir, cur_dir)}
            runs = ", ".join(f"{t:.1f}" for t in row["dask"]["runs_s"])
            print(f"{rows:>11,} rows: workbench {runs} s ({row['dask']['where']})", flush=True)
            if rows <= config["evidently_max_rows"]:
                row["evidently"] = run_evidently(ref_dir, cur_dir)
                row["speedup"] = row["evidently"]["seconds"] / row["dask"]["seconds"]
                row["agreement"] = compare(row["dask"]["columns"], row["evidently"]["columns"])
                print(f"{'':>17}Evidently {row['evidently']['seconds']:.1f}s", flush=True)
            results["sizes"].append(row)
            if rows == HUGE_ROWS and args.data is None:
                shutil.rmtree(data_root / str(rows), ignore_errors=True)
    finally:
        from workbench.dask_cluster import shutdown

        shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    by_rows = {r["rows"]: r for r in results["sizes"]}
    aims: dict[str, bool] = {}
    if 1_000_000 in by_rows and "speedup" in by_rows[1_000_000]:
        aims["speedup_at_1m_min"] = by_rows[1_000_000]["speedup"] >= AIMS["speedup_at_1m_min"]
    for rows, label in ((10_000_000, "10m"), (HUGE_ROWS, "100m")):
        if rows in by_rows:
            big = by_rows[rows]["dask"]
            aims[f"dask_{label}_seconds_max"] = big["seconds"] <= AIMS[f"dask_{label}_seconds_max"]
            aims[f"dask_{label}_peak_gib_max"] = \
                big["peak_bytes"] / 2**30 <= AIMS[f"dask_{label}_peak_gib_max"]
    if "csv" in results:
        aims["csv_cli_ratio_max"] = results["csv"]["ratio"] <= AIMS["csv_cli_ratio_max"]
    results["aims"] = aims
    results["targets"] = AIMS
    results["environment"]["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    report(results)
    agree = all(r["agreement"]["identical_verdicts"] for r in results["sizes"] if "agreement" in r)
    agree = agree and results.get("csv", {}).get("same_verdicts", True)
    if not agree:
        for r in results["sizes"]:
            for problem in r.get("agreement", {}).get("problems", []):
                print(f"  {r['rows']:,} rows: {problem}")
        if not results.get("csv", {}).get("same_verdicts", True):
            print("  CSV: the CLI and wb.drift on the frames disagree")
    return 0 if agree and (not args.check or all(aims.values())) else 1


if __name__ == "__main__":
    sys.exit(main())
