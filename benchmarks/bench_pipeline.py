"""Pipeline and promotion benchmark, side by side in one run.

    python benchmarks/bench_pipeline.py            # about 2 min on 2 cores
    python benchmarks/bench_pipeline.py --repeats 1

1. A 5-step chain of notebooks: `wb.pipeline.run` (dask, MLflow runs, executed notebooks kept)
   against plain `papermill.execute_notebook` of the same notebooks one after another in this
   process. Aim: <= 10% more wall time.
2. The same 5 notebooks as a diamond (prepare -> 3 independent steps -> report): workbench runs
   the middle three in parallel on 2 workers; papermill runs all five in sequence.
3. Promotion latency: `wb.promote` through a metric gate and a beat-the-champion gate declared
   in the pipeline spec, on the embedded SQLite store, from call to return (median of 5), beside
   plain MLflow's register + alias move. Aim: < 0.3 s.

Each notebook holds a `parameters` cell and one cell of ~`work_s` seconds of CPU. Cluster start,
the first kernel start and a warm-up run are not timed. Prints a table, writes JSON (default
benchmarks/results/pipeline.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "pipeline.json"
AIMS = {"chain_overhead_max": 0.10, "promotion_latency_s_max": 0.3}
STEPS = ["prepare", "left", "middle", "right", "report"]


def write_notebook(path: Path, work_s: float) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(f"work_s = {work_s}\nlabel = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import time\nstart = time.process_time()\ntotal = 0\n"
        "while time.process_time() - start < work_s:\n    total += sum(range(10_000))\n"
        "print(label, total)")]
    nbformat.write(nb, path)


def write_project(root: Path, work_s: float) -> None:
    (root / "pipelines").mkdir(parents=True)
    for step in STEPS:
        write_notebook(root / f"{step}.ipynb", work_s)
    chain = "".join(f"- name: {s}\n  notebook: {s}.ipynb\n"
                    + (f"  depends_on: [{STEPS[i - 1]}]\n" if i else "")
                    for i, s in enumerate(STEPS))
    diamond = ("- name: prepare\n  notebook: prepare.ipynb\n"
               + "".join(f"- name: {s}\n  notebook: {s}.ipynb\n  depends_on: [prepare]\n"
                         for s in STEPS[1:4])
               + "- name: report\n  notebook: report.ipynb\n  depends_on: [left, middle, right]\n")
    (root / "pipelines" / "chain.yaml").write_text(f"name: chain\nsteps:\n{chain}")
    (root / "pipelines" / "diamond.yaml").write_text(f"name: diamond\nsteps:\n{diamond}")


def papermill_sequence(root: Path) -> float:
    import papermill

    start = time.perf_counter()
    for step in STEPS:
        papermill.execute_notebook(str(root / f"{step}.ipynb"), str(root / f"{step}.out.ipynb"),
                                   cwd=str(root), progress_bar=False, log_output=False)
    return time.perf_counter() - start


def workbench_run(wb: Any, name: str, root: Path) -> float:
    start = time.perf_counter()
    outcome = wb.pipeline.run(name, root=root)
    if outcome.status != "FINISHED":
        raise RuntimeError(f"pipeline {name} ended {outcome.status}")
    return time.perf_counter() - start


def promotion_latency(wb: Any, root: Path, repeats: int = 5) -> dict[str, list[float]]:
    """`wb.promote` through the gates the pipeline spec declares (read from disk each call),
    against what a user does by hand in plain MLflow: register the run's model, move the alias.
    """
    import mlflow
    from mlflow import MlflowClient

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [0.5] * len(model_input)

    (root / "pipelines" / "bench-model.yaml").write_text(
        "name: bench-model\nmodel: bench-model\nsteps:\n- {name: s, function: 'm:f'}\n"
        "gates:\n- metric: val_auc >= 0.5\n- beat_champion: val_auc by 0.001\n")
    client = MlflowClient()
    times: dict[str, list[float]] = {"workbench": [], "mlflow": []}
    for i in range(repeats + 1):
        runs = []
        for _ in range(2):
            with mlflow.start_run() as run:
                mlflow.log_metric("val_auc", 0.7 + 0.01 * i)
                mlflow.pyfunc.log_model(name="model", python_model=Constant())
            runs.append(run.info.run_id)
        start = time.perf_counter()
        wb.promote("bench-model", run_id=runs[0], approver="bench", reason="benchmark",
                   root=root)
        gated = time.perf_counter() - start
        start = time.perf_counter()
        version = mlflow.register_model(f"runs:/{runs[1]}/model", "bench-plain").version
        client.set_registered_model_alias("bench-plain", "champion", str(version))
        plain = time.perf_counter() - start
        if i:  # the first creates the registered models: not a steady-state promotion
            times["workbench"].append(gated)
            times["mlflow"].append(plain)
    return times
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, the fastest counts")
    parser.add_argument("--work-s", type=float, default=2.0, help="CPU seconds per notebook")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="wb-pipeline-bench-"))
    os.environ["WORKBENCH_HOME"] = str(scratch / "home")
    os.environ.pop("WORKBENCH_SCHEDULER", None)
    import workbench as wb

    root = scratch / "project"
    write_project(root, args.work_s)
    results: dict[str, Any] = {"work_s": args.work_s, "repeats": args.repeats,
                               "cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg())}
    try:
        wb.cluster(n_workers=2)
        workbench_run(wb, "chain", root)  # warm-up: kernels, imports, store
        papermill_sequence(root)
        pm, chain, diamond = [], [], []
        for _ in range(args.repeats):  # interleaved, so load bursts hit both sides
            pm.append(papermill_sequence(root))
            chain.append(workbench_run(wb, "chain", root))
            diamond.append(workbench_run(wb, "diamond", root))
        latency = promotion_latency(wb, root)
    finally:
        from workbench.dask_cluster import shutdown

        shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    results.update({
        "papermill_sequence_s": pm, "chain_s": chain, "diamond_s": diamond,
        "chain_overhead": min(chain) / min(pm) - 1, "diamond_speedup": min(pm) / min(diamond),
        "promotion_latency_s": latency["workbench"],
        "promotion_latency_median_s": statistics.median(latency["workbench"]),
        "plain_mlflow_alias_move_s": latency["mlflow"],
        "plain_mlflow_median_s": statistics.median(latency["mlflow"]),
        "loadavg_end": list(os.getloadavg())})
    results["aims"] = {
        "chain_overhead_max": results["chain_overhead"] <= AIMS["chain_overhead_max"],
        "promotion_latency_s_max": results["promotion_latency_median_s"]
        < AIMS["promotion_latency_s_max"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pipelines and promotion ({results['cpus']} cpus, "
                        f"{args.work_s:g} s CPU per notebook)")
    for name in ("comparison", "baseline", "workbench", "ratio", "aim"):
        table.add_column(name)
    table.add_row("5-step chain: wb.pipeline.run vs papermill in sequence", f"{min(pm):.1f} s",
                  f"{min(chain):.1f} s", f"{results['chain_overhead']:+.1%}", "<= +10%")
    table.add_row("5-step diamond vs papermill in sequence", f"{min(pm):.1f} s",
                  f"{min(diamond):.1f} s", f"{results['diamond_speedup']:.2f}x faster", "> 1x")
    table.add_row("wb.promote, 2 spec gates, lock, record, history vs plain MLflow register "
                  "+ alias (median of 5)", f"{results['plain_mlflow_median_s']:.2f} s",
                  f"{results['promotion_latency_median_s']:.2f} s",
                  f"{results['promotion_latency_median_s'] / results['plain_mlflow_median_s']:.1f}"
                  "x",
                  f"< {AIMS['promotion_latency_s_max']:g} s")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
