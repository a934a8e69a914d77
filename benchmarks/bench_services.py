"""The services benchmark: the same work on `workbench services` (PostgreSQL behind an MLflow
server with basic auth, a scheduler with 2 worker processes) and on the embedded defaults
(SQLite, a 2-worker LocalCluster), side by side in one run.

    python benchmarks/bench_services.py            # about 3 min on 2 cores
    python benchmarks/bench_services.py --quick    # about 2 min, trials too short to judge
    python benchmarks/bench_services.py --out /tmp/services.json

1. Sweep scaling: one `wb.sweep` of the built-in classifier on each cluster; efficiency is
   embedded time / services time (1.0: the services cost nothing over a LocalCluster).
2. Drift: `wb.drift(engine="dask")` on Parquet files on each cluster.
3. Metric points persisted per second: `MetricWriter` through the tracking server (log_batch,
   what `wb.train` does there), into SQLite, and `mlflow.log_metric` per point to the same
   server; every point is read back and counted.

Both stacks live in throw-away folders, removed at the end. Prints a table and writes JSON
(default benchmarks/results/services.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_OUT = REPO / "benchmarks" / "results" / "services.json"
DEMO = "workbench.demo.classifier:train"


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def sweep(rows: int, trials: int, epochs: int) -> float:
    import workbench as wb

    frame = wb.demo.make_dataset(rows, seed=0)
    wb.sweep(DEMO, space={"lr": [0.002, 0.004], "hidden": [16, 32]}, params={"epochs": 1},
             data=frame.head(400), metric="val_loss", progress=False).result(timeout=600)
    lrs = [0.001 * (i + 1) for i in range(trials)]
    seconds, results = timed(lambda: wb.sweep(
        DEMO, space={"lr": lrs}, params={"epochs": epochs}, data=frame, metric="val_loss",
        progress=False).result(timeout=1800))
    assert len(results) == trials
    return seconds


def drift(folder: Path, rows: int) -> float:
    import workbench as wb
    from benchmarks.drift_data import write_table
    from workbench.monitoring import api

    api.LOCAL_FILE_BYTES = 0  # files this small are read in process: measure the cluster
    ref = write_table(folder / "ref.parquet", rows, seed=1, drift=False)
    cur = write_table(folder / "cur.parquet", rows, seed=2, drift=True)
    wb.drift(ref, cur, engine="dask")  # warm: workers import the engine
    seconds, _ = timed(lambda: wb.drift(ref, cur, engine="dask"))
    return seconds


def points_per_second(calls: int, per_call: int) -> dict[str, float]:
    """MetricWriter through the configured store, and per-call log_metric to it."""
    import mlflow

    from workbench.tracking.sinks import mlflow_sink
    from workbench.tracking.sql_sink import sql_bulk_sink
    from workbench.tracking.store import ensure_experiment, tracking_client
    from workbench.tracking.writer import MetricWriter

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    client = tracking_client()
    experiment = ensure_experiment(client, "bench-services")
    run = client.create_run(experiment).info.run_id
    writer = MetricWriter(sql_bulk_sink(client, uri, run, fallback=mlflow_sink(client, run)))
    started = time.perf_counter()
    for step in range(calls):
        writer.log({"a": step * 0.5, "b": 1.0 / (step + 1)}, step=step)
    writer.close()
    batched = 2 * calls / (time.perf_counter() - started)
    stored = len(client.get_metric_history(run, "a")) + len(client.get_metric_history(run, "b"))
    assert stored == 2 * calls, f"{stored} of {2 * calls} points in the store"
    out = {"batched": batched}
    if per_call:
        with mlflow.start_run(experiment_id=experiment) as active:
            started = time.perf_counter()
            for step in range(per_call):
                mlflow.log_metric("a", step * 0.5, step=step)
            out["per_call"] = per_call / (time.perf_counter() - started)
        assert len(client.get_metric_history(active.info.run_id, "a")) == per_call
    return out


def embedded(folder: Path, cfg: argparse.Namespace) -> dict[str, Any]:
    import workbench as wb
    from workbench.dask_cluster import shutdown

    env = {"WORKBENCH_HOME": str(folder / "home")}
    for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "MLFLOW_TRACKING_USERNAME",
                 "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(name, None)
    with environment(env):
        wb.cluster(n_workers=2)
        try:
            return {"sweep_s": sweep(cfg.rows, cfg.trials, cfg.epochs),
                    "drift_s": drift(folder, cfg.drift_rows),
                    "points": points_per_second(cfg.calls, 0)}
        finally:
            shutdown()


def on_services(folder: Path, cfg: argparse.Namespace) -> dict[str, Any]:
    from tests.service_stack import running_services
    from workbench.dask_cluster import shutdown

    with running_services(workers=2) as (_, env), environment(env):
        try:
            return {"sweep_s": sweep(cfg.rows, cfg.trials, cfg.epochs),
                    "drift_s": drift(folder, cfg.drift_rows),
                    "points": points_per_second(cfg.calls, cfg.per_call)}
        finally:
            shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    cfg = argparse.Namespace(rows=20_000 if args.quick else 50_000, trials=4,
                             epochs=2 if args.quick else 4,
                             drift_rows=100_000 if args.quick else 400_000,
                             calls=10_000 if args.quick else 50_000,
                             per_call=100 if args.quick else 300)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    scratch = Path(tempfile.mkdtemp(prefix="wb-bench-services-"))
    os.chmod(scratch, 0o711)
    try:
        local = embedded(scratch / "embedded", cfg)
        shared = on_services(scratch / "services", cfg)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [
        ("sweep, 4 trials, 2 workers (s)", local["sweep_s"], shared["sweep_s"],
         f"efficiency {local['sweep_s'] / shared['sweep_s']:.2f}"),
        ("drift, dask engine (s)", local["drift_s"], shared["drift_s"],
         f"efficiency {local['drift_s'] / shared['drift_s']:.2f}"),
        ("metric points/s, MetricWriter", local["points"]["batched"],
         shared["points"]["batched"],
         f"server/SQLite {shared['points']['batched'] / local['points']['batched']:.2f}"),
        ("metric points/s, log_metric per call", None, shared["points"]["per_call"],
         f"batched/per-call {shared['points']['batched'] / shared['points']['per_call']:.0f}x"),
    ]
    print(f"\n{'measure':<40} {'embedded':>10} {'services':>10}  ratio")
    for name, a, b, ratio in rows:
        left = "-" if a is None else f"{a:,.1f}"
        print(f"{name:<40} {left:>10} {b:>10,.1f}  {ratio}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": vars(cfg), "embedded": local,
                                    "services": shared}, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
