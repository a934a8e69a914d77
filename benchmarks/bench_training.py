"""Training benchmarks, every comparison side by side in one run.

    python benchmarks/bench_training.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_training.py --quick    # CI-sized run
    python benchmarks/bench_training.py --out results.json

1. Sweep speedup: an 8-trial `wb.sweep` of the built-in classifier on a 2-worker LocalCluster
   against the same 8 trials run one after another in this process with no dask and no MLflow.
2. Tracking overhead: one `wb.train` run against the same training loop with no tracking, run
   on the same dask cluster (`client.submit` of a plain function) and in this process.
3. Metric logging: `MetricWriter.log` into the SQLite store (emit rate, loop slowdown, persisted
   rate, every point checked in the store) against `mlflow.log_metric` called per point.

Runs against a throw-away WORKBENCH_HOME (embedded SQLite store), removed at the end unless
`--keep`. Cluster start-up, worker imports and store creation are timed separately, outside the
comparisons. Prints a table of ratios and writes JSON (default benchmarks/results/training.json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "training.json"
TRAIN_FN = "workbench.demo.classifier:train"
SEED = 0
TARGETS = {"sweep_speedup_min": 1.7, "tracking_overhead_max": 0.05, "persist_ratio_min": 50.0}


@dataclass(frozen=True)
class Config:
    rows: int  # rows of the demo dataset every measurement trains on
    sweep_trials: int
    sweep_epochs: int  # per trial
    train_epochs: int  # the single run of the tracking-overhead comparison
    metric_calls: int  # MetricWriter.log calls, two points each
    per_call_points: int  # mlflow.log_metric calls of the baseline
    workers: int = 2


# An epoch is ~0.5 s (200k rows) / ~0.13 s (50k rows) on one core of the 2-core dev machine.
FULL = Config(rows=200_000, sweep_trials=8, sweep_epochs=10, train_epochs=30,
              metric_calls=200_000, per_call_points=300)
QUICK = Config(rows=50_000, sweep_trials=8, sweep_epochs=8, train_epochs=25,
               metric_calls=50_000, per_call_points=150)


# -- the training loop with nothing around it --------------------------------------------------
class StandInCtx:
    """What the classifier reads from workbench's TrainContext, with no dask and no MLflow."""

    def __init__(self, params: dict[str, Any], data: Any, seed: int) -> None:
        import torch

        from workbench.training.context import Params

        self.run_id = "untracked"
        self.params = Params(params)
        self.data = data
        self.device = torch.device("cpu")
        self.seed = seed
        self.rank = 0
        self.world_size = 1
        self.is_main = True
        self.total_steps: int | None = None
        self.input_example: Any = None
        self.resumed_from: int | None = None
        self.logged_at: list[float] = []  # wall clock of each log_metrics call (once per epoch)

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        self.logged_at.append(time.time())

    def checkpoint(self, state: Any) -> None:
        pass

    def restore(self) -> Any:
        return None

    def shard(self, frame: Any) -> Any:
        return frame


def train_untracked(params: dict[str, Any], data: Any, seed: int,
                    torch_threads: int | None = None) -> dict[str, Any]:
    """The classifier's training loop, seeded as a worker seeds it, timed (wall clock)."""
    import numpy as np
    import torch

    from workbench.demo.classifier import train

    if torch_threads:
        torch.set_num_threads(torch_threads)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    ctx = StandInCtx(params, data, seed)
    start = time.time()
    train(ctx)
    end = time.time()
    return {"start": start, "epochs": ctx.logged_at, "end": end, "seconds": end - start,
            "torch_threads": int(torch.get_num_threads())}


def warm_worker(tracking_uri: str) -> float:
    """Import what a trial imports and open the store, so the first trial does not pay for it."""
    start = time.perf_counter()
    import mlflow  # noqa: F401
    import torch  # noqa: F401

    import workbench.demo.classifier
    import workbench.training.runner  # noqa: F401
    from workbench.tracking.store import tracking_client

    tracking_client(tracking_uri)
    return time.perf_counter() - start


# -- the three measurements --------------------------------------------------------------------
def bench_sweep(wb: Any, cfg: Config, frame: Any) -> dict[str, Any]:
    from workbench.demo.classifier import ClassifierParams

    base = {"rows": cfg.rows, "epochs": cfg.sweep_epochs}
    lrs = [round(0.002 * 1.5**i, 6) for i in range(cfg.sweep_trials)]
    trials = [ClassifierParams(**base, lr=lr).model_dump(mode="json") for lr in lrs]

    # The baseline the brief calls fair: one process, torch's default threads.
    start = time.perf_counter()
    default_runs = [train_untracked(p, frame, SEED) for p in trials]
    sequential = time.perf_counter() - start
    default_threads = _torch_threads()
    # The same with torch on one thread, as each dask worker runs it.
    start = time.perf_counter()
    single_runs = [train_untracked(p, frame, SEED, torch_threads=1) for p in trials]
    sequential_1t = time.perf_counter() - start
    _set_torch_threads(default_threads)

    start = time.perf_counter()
    sweep = wb.sweep(TRAIN_FN, space={"lr": lrs}, params=base, data=frame, metric="val_loss",
                     seed=SEED, progress=False)
    results = sweep.result()
    swept = time.perf_counter() - start
    if len(results) != len(trials):
        raise RuntimeError(f"sweep finished {len(results)} of {len(trials)} trials")
    return {
        "trials": len(trials),
        "epochs_per_trial": cfg.sweep_epochs,
        "rows": cfg.rows,
        "learning_rates": lrs,
        "sequential_s": sequential,
        "sequential_torch_threads": default_threads,
        "sequential_trial_s": [r["seconds"] for r in default_runs],
        "sequential_1thread_s": sequential_1t,
        "sequential_1thread_trial_s": [r["seconds"] for r in single_runs],
        "sweep_s": swept,
        "speedup": sequential / swept,
        "speedup_vs_1thread": sequential_1t / swept,
        "best_val_loss": min(r.metrics.get("val_loss", float("inf")) for r in results),
        "parent_run_id": sweep.parent_run_id,
    }


def _phases(called: float, epochs: list[float], done: float) -> dict[str, float]:
    """Wall-clock split of one run: to the end of epoch 1, the epochs after, after the last."""
    gaps = sorted(b - a for a, b in itertools.pairwise(epochs))
    return {
        "to_first_epoch_s": epochs[0] - called,
        "later_epochs_s": epochs[-1] - epochs[0],
        "median_epoch_s": gaps[len(gaps) // 2] if gaps else float("nan"),
        "after_last_epoch_s": done - epochs[-1],
        "total_s": done - called,
    }


def bench_tracking(wb: Any, client: Any, cfg: Config, frame: Any) -> dict[str, Any]:
    from workbench.demo.classifier import ClassifierParams
    from workbench.tracking.store import tracking_client

    params = ClassifierParams(rows=cfg.rows, epochs=cfg.train_epochs).model_dump(mode="json")
    hint = getattr(_cluster_module(wb), "torch_threads_hint", None)
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    # what run_trial sets on the worker
    threads = hint(client) if hint else max(1, (os.cpu_count() or 1) // workers)

    # Untracked, on the cluster: data scattered and the function submitted as wb.train does.
    called, start = time.time(), time.perf_counter()
    data = client.scatter(frame, hash=False)
    future = client.submit(train_untracked, params, data, SEED, threads, pure=False)
    raw = future.result()
    raw_dask = time.perf_counter() - start
    raw_phases = _phases(called, raw["epochs"], time.time())
    del future, data

    called, start = time.time(), time.perf_counter()
    job = wb.train(TRAIN_FN, params=params, data=frame, seed=SEED, progress=False)
    result = job.result()
    tracked = time.perf_counter() - start
    done = time.time()

    local = train_untracked(params, frame, SEED)
    raw_local = local["seconds"]

    tracking = tracking_client()
    run = tracking.get_run(result.run_id)
    history = sorted(tracking.get_metric_history(result.run_id, "val_loss"),
                     key=lambda m: m.step)
    # metric timestamps are taken when the loop logs them, like the untracked loop's
    tracked_phases = _phases(called, [m.timestamp / 1000 for m in history], done)
    return {
        "epochs": cfg.train_epochs,
        "rows": cfg.rows,
        "worker_torch_threads": threads,
        "raw_dask_s": raw_dask,
        "raw_dask_phases": raw_phases,
        "raw_inprocess_s": raw_local,
        "inprocess_torch_threads": local["torch_threads"],
        "tracked_s": tracked,
        "tracked_phases": tracked_phases,
        "tracked_status": run.info.status,
        "tracked_epochs_logged": len(history),
        "tracked_model_uri": result.model_uri,
        "overhead_vs_dask": tracked / raw_dask - 1,
        "overhead_vs_inprocess": tracked / raw_local - 1,
        "run_id": result.run_id,
    }


def bench_metrics(cfg: Config) -> dict[str, Any]:
    import mlflow

    from workbench.tracking.sinks import mlflow_sink
    from workbench.tracking.store import ensure_experiment, tracking_client
    from workbench.tracking.writer import MetricWriter

    client = tracking_client()
    experiment = ensure_experiment(client, "bench-metrics")
    n = cfg.metric_calls

    # The same loop twice: computing two values per step, then also handing them to the writer.
    start = time.perf_counter()
    for i in range(n):
        loss = 1.0 / (i + 1)
        acc = (i % 100) * 0.01
    bare = time.perf_counter() - start
    del loss, acc

    run_id = client.create_run(experiment, run_name="metric-writer").info.run_id
    writer = MetricWriter(mlflow_sink(client, run_id))
    start = time.perf_counter()
    for i in range(n):
        loss = 1.0 / (i + 1)
        acc = (i % 100) * 0.01
        writer.log({"loss": loss, "acc": acc}, i)
    emitted = time.perf_counter() - start
    writer.close()
    persisted = time.perf_counter() - start
    writer_alive = writer._thread.is_alive()  # close() returns after its timeout regardless
    client.set_terminated(run_id)
    stored = {key: client.get_metric_history(run_id, key) for key in ("loss", "acc")}
    stored_points = sum(len(v) for v in stored.values())
    stored_steps_ok = all(sorted(m.step for m in v) == list(range(n)) for v in stored.values())

    m = cfg.per_call_points
    with mlflow.start_run(experiment_id=experiment, run_name="log-metric-per-point") as run:
        start = time.perf_counter()
        for i in range(m // 2):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            mlflow.log_metric("acc", (i % 100) * 0.01, step=i)
        per_call = time.perf_counter() - start
    per_call_stored = sum(len(client.get_metric_history(run.info.run_id, k))
                          for k in ("loss", "acc"))

    points = 2 * n
    persisted_rate = points / persisted
    per_call_rate = (m // 2 * 2) / per_call
    return {
        "log_calls": n,
        "points": points,
        "bare_loop_s": bare,
        "emit_loop_s": emitted,
        "emit_calls_per_s": n / emitted,
        "log_call_us": (emitted - bare) / n * 1e6,
        "loop_slowdown": emitted / bare - 1,
        "persist_s": persisted,
        "drain_after_loop_s": persisted - emitted,
        "persisted_points_per_s": persisted_rate,
        "writer": {k: v for k, v in asdict(writer.stats).items() if k != "latest"},
        "writer_thread_alive_after_close": writer_alive,
        "stored_points": stored_points,
        "stored_steps_complete": stored_steps_ok,
        "per_call_points": m // 2 * 2,
        "per_call_s": per_call,
        "per_call_points_per_s": per_call_rate,
        "per_call_stored_points": per_call_stored,
        "persist_ratio": persisted_rate / per_call_rate,
    }


def _cluster_module(wb: Any) -> Any:
    """The module behind `wb.cluster` (it has moved before), for its shutdown and thread hint."""
    import importlib

    return importlib.import_module(wb.cluster.__module__)


# -- reporting ---------------------------------------------------------------------------------
def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def report(results: dict[str, Any]) -> bool:
    """Print the tables; True when every target is met and every point was stored."""
    from rich.console import Console
    from rich.table import Table

    s, t, m = results["sweep"], results["tracking"], results["metrics"]
    cfg, env = results["config"], results["environment"]
    tick = {True: "[green]yes[/]", False: "[red]NO[/]", None: ""}
    ok_speedup = s["speedup"] >= TARGETS["sweep_speedup_min"]
    ok_overhead = t["overhead_vs_dask"] <= TARGETS["tracking_overhead_max"]
    ok_ratio = m["persist_ratio"] >= TARGETS["persist_ratio_min"]
    ok_points = m["stored_points"] == m["points"] and m["stored_steps_complete"]
    trials = f"{s['trials']} trials x {s['epochs_per_trial']} epochs"
    rows = [
        (f"wb.sweep ({cfg['workers']} workers) vs sequential, torch "
         f"{s['sequential_torch_threads']} threads ({trials})",
         f"{s['sequential_s']:.1f} s", f"{s['sweep_s']:.1f} s", f"{s['speedup']:.2f}x speedup",
         f">= {TARGETS['sweep_speedup_min']}x", ok_speedup),
        ("wb.sweep vs sequential, torch 1 thread", f"{s['sequential_1thread_s']:.1f} s",
         f"{s['sweep_s']:.1f} s", f"{s['speedup_vs_1thread']:.2f}x speedup", "", None),
        (f"wb.train vs untracked loop on dask ({t['epochs']} epochs)", f"{t['raw_dask_s']:.1f} s",
         f"{t['tracked_s']:.1f} s", f"{_pct(t['overhead_vs_dask'])} overhead",
         f"<= {TARGETS['tracking_overhead_max']:.0%}", ok_overhead),
        (f"wb.train vs untracked loop in-process, torch {t['inprocess_torch_threads']} threads",
         f"{t['raw_inprocess_s']:.1f} s", f"{t['tracked_s']:.1f} s",
         f"{_pct(t['overhead_vs_inprocess'])} overhead", "", None),
        (f"loop of {m['log_calls']:,} writer.log calls vs same loop bare",
         f"{m['bare_loop_s']:.2f} s", f"{m['emit_loop_s']:.2f} s",
         f"{_pct(m['loop_slowdown'])} slowdown", "", None),
        ("  writer.log call rate (cost per call)", "", f"{m['emit_calls_per_s']:,.0f}/s",
         f"{m['log_call_us']:.2f} us/call", "", None),
        ("persisted points/s: MetricWriter vs mlflow.log_metric",
         f"{m['per_call_points_per_s']:,.0f}/s", f"{m['persisted_points_per_s']:,.0f}/s",
         f"{m['persist_ratio']:,.1f}x", f">= {TARGETS['persist_ratio_min']:.0f}x", ok_ratio),
        ("points in the store after writer.close()", f"{m['points']:,}",
         f"{m['stored_points']:,}", f"{m['stored_points'] / m['points']:.1%}", "100%", ok_points),
    ]
    table = Table(title=f"workbench training benchmark ({results['mode']}, {env['cpus']} cpus, "
                        f"rows={cfg['rows']:,})")
    for name, justify in (("comparison", "left"), ("baseline", "right"), ("workbench", "right"),
                          ("ratio", "right"), ("target", "right"), ("met", "center")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for *cells, ok in rows:
        table.add_row(*cells, tick[ok])

    phases = Table(title="one run, wall clock: untracked on dask vs wb.train")
    for name in ("phase", "untracked", "wb.train", "difference"):
        phases.add_column(name, justify="left" if name == "phase" else "right")
    raw, tracked = t["raw_dask_phases"], t["tracked_phases"]
    for key, label in (("to_first_epoch_s", "call to end of epoch 1"),
                       ("median_epoch_s", "one later epoch (median)"),
                       ("later_epochs_s", "all later epochs"),
                       ("after_last_epoch_s", "last epoch's metrics to result"),
                       ("total_s", "total")):
        phases.add_row(label, f"{raw[key]:.2f} s", f"{tracked[key]:.2f} s",
                       f"{tracked[key] - raw[key]:+.2f} s")

    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(phases)
    start = results["startup"]
    console.print(
        f"not timed: cluster start {start['cluster_s']:.1f} s, worker warm-up "
        f"{start['worker_warmup_s']:.1f} s, store creation {start['store_s']:.1f} s. "
        f"load average {env['loadavg_start'][0]:.2f} at start, {env['loadavg_end'][0]:.2f} at "
        f"end; total {results['wall_s']:.0f} s")
    if max(env["loadavg_start"][0], env["loadavg_end"][0]) > 0.5 * (env["cpus"] or 1):
        console.print("[yellow]warning: the machine was busy with other work; the timings, "
                      "torch's multi-threaded baseline above all, are unreliable[/]")
    return ok_speedup and ok_overhead and ok_ratio and ok_points


def environment() -> dict[str, Any]:
    import dask
    import mlflow
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "mlflow": mlflow.__version__,
        "dask": dask.__version__,
        "loadavg_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, CI-sized run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary WORKBENCH_HOME")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (points lost always exit 1)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    home = Path(tempfile.mkdtemp(prefix="workbench-bench-"))
    os.environ["WORKBENCH_HOME"] = str(home)  # before workbench is imported: its store lives here
    for var in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
        os.environ.pop(var, None)
    wall = time.perf_counter()
    try:
        import workbench as wb
        from workbench.config import settings
        from workbench.tracking.store import ensure_experiment, tracking_client

        shutdown = _cluster_module(wb).shutdown
        env = environment()
        start = time.perf_counter()
        ensure_experiment(tracking_client())  # creates the SQLite schema
        store_s = time.perf_counter() - start
        frame = wb.demo.make_dataset(cfg.rows, seed=SEED)

        start = time.perf_counter()
        client = wb.cluster(n_workers=cfg.workers)
        cluster_s = time.perf_counter() - start
        start = time.perf_counter()
        client.run(warm_worker, settings().tracking_uri)
        warm_s = time.perf_counter() - start
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        if workers != cfg.workers:
            raise RuntimeError(f"wanted {cfg.workers} dask workers, got {workers}")

        print(f"sweep: {cfg.sweep_trials} trials x {cfg.sweep_epochs} epochs ...", flush=True)
        sweep = bench_sweep(wb, cfg, frame)
        print(f"tracking: {cfg.train_epochs} epochs, three ways ...", flush=True)
        tracking = bench_tracking(wb, client, cfg, frame)
        shutdown()  # the metric comparison has the machine to itself
        print(f"metrics: {cfg.metric_calls:,} writer.log calls ...", flush=True)
        metrics = bench_metrics(cfg)

        env["loadavg_end"] = list(os.getloadavg())
        results = {
            "mode": "quick" if args.quick else "full",
            "config": asdict(cfg),
            "targets": TARGETS,
            "environment": env,
            "startup": {"store_s": store_s, "cluster_s": cluster_s, "worker_warmup_s": warm_s},
            "sweep": sweep,
            "tracking": tracking,
            "metrics": metrics,
            "wall_s": time.perf_counter() - wall,
        }
        met = report(results)
        results["targets_met"] = met
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    finally:
        if "shutdown" in locals():
            shutdown()
        if args.keep:
            print(f"kept WORKBENCH_HOME={home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    lost = metrics["stored_points"] != metrics["points"] or not metrics["stored_steps_complete"]
    return 1 if lost or (args.check and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
