"""How fast the read commands answer on the embedded store, beside plain `mlflow` CLI calls.

    python benchmarks/bench_cli.py                # about 2 min on 2 cores
    python benchmarks/bench_cli.py --repeats 3 --runs 50 --check

Builds one embedded store (SQLite + local artifacts) in a temporary WORKBENCH_HOME: `--runs`
tracked runs with metrics in the default experiment, a model with a promotion history (a
promotion, one whose reason is kept as an artifact, a rollback), a pipeline with scheduled-slot
records. Then times, as a user runs them (a fresh process each, wall clock), `--repeats` times
interleaved, the median of each:

- `workbench runs --json`, `workbench history MODEL --json`, `workbench pipeline list --json`;
- the same three through MLflow's client (the fast path's known schemas emptied: the read path
  they had before);
- `mlflow runs list --experiment-id ID` and `mlflow experiments search` on the same store.

Aim: each workbench read command under 1.5 s. Prints a table, writes JSON (default
benchmarks/results/cli.json); with --check, exit 1 when the aim is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cli.json"
AIM_S = 1.5
MODEL = "bench-model"
SPEC = """name: bench
steps:
- {name: pilot, notebook: pilot.ipynb}
schedule: 0 3 * * *
"""
THROUGH_MLFLOW = ("import workbench.tracking.fast_read as fast; fast.KNOWN_SCHEMAS = frozenset()"
                  "; from workbench.cli import main; main()")


def populate(home: Path, project: Path, runs: int) -> str:
    """Fill the store; returns the default experiment's id."""
    os.environ["WORKBENCH_HOME"] = str(home)
    for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
        os.environ.pop(name, None)
    import mlflow
    from mlflow.entities import Metric

    import workbench as wb
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import ensure_experiment, tracking_client

    client = tracking_client()
    experiment = ensure_experiment(client)
    for i in range(runs):
        run = client.create_run(experiment, run_name=f"run {i}",
                                tags={"workbench.kind": "train"})
        client.log_batch(run.info.run_id, metrics=[
            Metric(key, 1.0 / (step + 1 + i), 0, step)
            for key in ("train_loss", "val_loss", "val_auc") for step in range(10)])
        client.set_terminated(run.info.run_id)

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return [0.5] * len(model_input)

    models = []
    for auc in (0.8, 0.9):
        with mlflow.start_run(experiment_id=experiment) as run:
            client.log_batch(run.info.run_id, metrics=[Metric("val_auc", auc, 0, 0)])
            mlflow.pyfunc.log_model(name="model", python_model=Constant(),
                                    pip_requirements=["mlflow"])
        models.append(run.info.run_id)
    wb.promote(MODEL, run_id=models[0], approver="ana", reason="first pilot")
    wb.promote(MODEL, run_id=models[1], approver="bo", reason="r" * 5000)
    wb.rollback(MODEL, approver="ana", reason="v2 mis-scores")

    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "bench.yaml").write_text(SPEC)
    book = SlotBook(client)
    for day in range(1, 6):
        book.close(book.open("bench", f"2026-11-0{day}T03:00:00+00:00", "host:1"), "ran")
    return experiment


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200, help="tracked runs in the store")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the aim is missed")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        home, project = scratch / "wb", scratch / "project"
        experiment = populate(home, project, args.runs)
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "WORKBENCH_HOME": str(home)}
        mlflow_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
        reads = {"runs": ["runs", "--json"], "history": ["history", MODEL, "--json"],
                 "pipeline list": ["pipeline", "list", "--json"]}
        cases: dict[str, tuple[list[str], dict[str, str]]] = {}
        for name, cli_args in reads.items():
            cases[f"workbench {name}"] = ([str(bin_dir / "workbench"), *cli_args], env)
            cases[f"workbench {name} (through MLflow)"] = (
                [sys.executable, "-c", THROUGH_MLFLOW, *cli_args], env)
        cases["mlflow runs list"] = ([str(bin_dir / "mlflow"), "runs", "list",
                                      "--experiment-id", experiment], mlflow_env)
        cases["mlflow experiments search"] = ([str(bin_dir / "mlflow"), "experiments",
                                               "search"], mlflow_env)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        load_start = list(os.getloadavg())
        for _ in range(args.repeats):  # interleaved: a burst of other load hits every case
            for name, (command, case_env) in cases.items():
                samples[name].append(timed(command, case_env, project))
        load_end = list(os.getloadavg())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["mlflow runs list"]
    print(f"{'command':<44} {'median s':>9} {'vs mlflow runs list':>20} {'vs before':>10}")
    for name, value in medians.items():
        before = medians.get(f"{name} (through MLflow)")
        print(f"{name:<44} {value:>9.2f} {value / baseline:>19.2f}x "
              f"{'' if before is None else f'{before / value:>9.1f}x'}")
    missed = [name for name in reads if medians[f"workbench {name}"] >= AIM_S]
    verdict = f"missed by {', '.join(missed)}" if missed else "met"
    print(f"aim: each workbench read < {AIM_S} s: {verdict}; load average "
          f"{load_start[0]:.1f} -> {load_end[0]:.1f} on {os.cpu_count()} cores")
    report: dict[str, Any] = {
        "repeats": args.repeats, "runs_in_store": args.runs, "aim_s": AIM_S,
        "median_s": medians, "samples_s": samples, "missed": missed,
        "machine": {"cpus": os.cpu_count(), "loadavg_start": load_start,
                    "loadavg_end": load_end},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
