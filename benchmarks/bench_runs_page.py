"""How fast the /runs dashboard shows a page of runs, beside MLflow's own search_runs.

    python benchmarks/bench_runs_page.py                  # 10,000 runs x 100 metrics
    python benchmarks/bench_runs_page.py --runs 1000      # under a minute on 2 cores
    python benchmarks/bench_runs_page.py --store /tmp/runs-10k --check   # build once, reuse

Builds an embedded store (SQLite + local artifacts) in a temporary WORKBENCH_HOME, or in
`--store` (kept, and reused when it already holds the runs asked for): `--runs` finished runs,
each with `--metrics` metrics (3 steps each: the table shows the latest) and 5 params. Built
fast: one run through MlflowClient (create_run, log_batch, set_terminated), then copied in SQL
(its rows in runs, tags, params, metrics, latest_metrics, each copy with its own id, name, start
time and metric values): 10,000 runs took 99 s (4M rows) at load ~6; `--build mlflow` logs
every run through log_batch instead (~30-180 ms a run on 2 shared cores). Then, in one process
with MLflow imported, the store's first touch included, `--repeats` rounds interleaved, the
median of each:

- first view: what a new /runs session computes before it renders: `views.RunsBrowser()`,
  which reads the experiments for the select and the first page (`data_store.Pager`) and
  builds the widgets and the table of that page;
- a further page (`--page`, default 20): `Pager.next()` from the page before it, and its frame;
- beside each, `MlflowClient.search_runs` for the same page (same experiments, order, page
  size; the further page through MLflow's page token), which the MLflow UI's runs table uses.

Aims: first view < 1.5 s, further page < 300 ms. Prints a table of ratios, writes JSON (default
benchmarks/results/runs_page.json); with --check, exit 1 when an aim is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "runs_page.json"
AIMS_S = {"first view": 1.5, "further page": 0.3}
STEPS = 3


def use_store(home: Path) -> None:
    os.environ["WORKBENCH_HOME"] = str(home)
    for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
        os.environ.pop(name, None)


def populate(runs: int, metrics: int, build: str) -> tuple[str, float]:
    """Fill the default experiment up to `runs` runs; returns its id and the build seconds.

    build "mlflow": every run through MlflowClient (create_run, log_batch, set_terminated);
    build "sql": one run through MlflowClient, then copied row by row in SQL (its runs, tags,
    params, metrics and latest_metrics rows, with a new id, name, start time and values)."""
    from workbench.tracking.store import ensure_experiment, tracking_client

    client = tracking_client()
    experiment = ensure_experiment(client)
    have = len(client.search_runs([experiment], max_results=runs + 1))
    if have >= runs:
        return experiment, 0.0
    started = time.perf_counter()
    if build == "mlflow" or have == 0:
        for index in range(have, runs if build == "mlflow" else 1):
            log_run(client, experiment, index, metrics)
            if (index + 1) % 1000 == 0:
                print(f"  built {index + 1}/{runs} runs", file=sys.stderr)
        have = max(have, 1)
    if have < runs:
        template = client.search_runs([experiment], max_results=1)[0].info.run_id
        copy_runs(client.tracking_uri.removeprefix("sqlite:///"), template, have, runs)
    return experiment, time.perf_counter() - started


def log_run(client: Any, experiment: str, index: int, metrics: int) -> None:
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment, run_name=f"bench-{index}",
                            start_time=1_700_000_000_000 + index * 1000)
    points = [Metric(f"metric_{m:03d}", (index * 31 + m * step) % 997 / 997, 0, step)
              for m in range(metrics) for step in range(STEPS)]
    params = [Param(f"param_{p}", str((index + p) % 7)) for p in range(5)]
    for start in range(0, len(points), 1000):  # MLflow takes 1000 metrics per batch
        client.log_batch(run.info.run_id, metrics=points[start:start + 1000],
                         params=params if start == 0 else [])
    client.set_terminated(run.info.run_id)


# what a copy changes in each table's rows; every other column is the template's
CHANGED = {"runs": {"run_uuid": ":id", "name": ":name", "start_time": ":start",
                    "end_time": ":start + 1000",
                    "artifact_uri": "replace(artifact_uri, :template, :id)"},
           "tags": {"run_uuid": ":id",
                    "value": "CASE WHEN key = 'mlflow.runName' THEN :name ELSE value END"},
           "params": {"run_uuid": ":id"},
           "metrics": {"run_uuid": ":id", "value": "(value * 997 + :index) % 997 / 997"},
           "latest_metrics": {"run_uuid": ":id",
                              "value": "(value * 997 + :index) % 997 / 997"}}


def copy_runs(db: str, template: str, first: int, last: int) -> None:
    import sqlite3
    import uuid

    connection = sqlite3.connect(db)
    with connection:
        for table, changed in CHANGED.items():
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            values = ", ".join(changed.get(c, c) for c in columns)
            rows = [{"id": uuid.uuid4().hex, "name": f"bench-{i}", "index": i,
                     "start": 1_700_000_000_000 + i * 1000, "template": template}
                    for i in range(first, last)]
            if table == "runs":
                ids = [r["id"] for r in rows]
            else:
                for row, run_id in zip(rows, ids, strict=True):
                    row["id"] = run_id
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} "
                f"WHERE run_uuid = :template", rows)
    connection.close()


def median_time(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(experiment: str, runs: int, repeats: int,
            page: int) -> dict[str, dict[str, float]]:
    from workbench.tracking.store import tracking_client
    from workbench_apps.runs import data_store, views

    client = tracking_client()
    size = data_store.PAGE_SIZE
    later = max(min(page, runs // size) - 1, 1)  # timed: the step from page `later`
    order = ["attributes.start_time DESC"]

    def first_view() -> Any:
        return views.RunsBrowser().table.value  # its data store's reads and its widgets

    def positioned() -> Any:
        pager = data_store.Pager()
        for _ in range(later - 1):
            pager.next()
        return pager

    def mlflow_page(token: str | None) -> Any:
        return client.search_runs([experiment], max_results=size, order_by=order,
                                  page_token=token)

    token = None
    for _ in range(later):
        token = mlflow_page(token).token
    pagers = [positioned() for _ in range(repeats)]  # each timed next() starts from one
    rows: dict[str, list[float]] = {k: [] for k in ("first", "first_mlflow", "next",
                                                    "next_mlflow")}
    shown = {}
    for round_ in range(repeats):  # interleaved: load bursts hit both sides alike
        seconds, frame = median_time(first_view, 1)
        rows["first"].append(seconds)
        rows["first_mlflow"].append(median_time(lambda: mlflow_page(None), 1)[0])
        pager = pagers[round_]
        seconds, _ = median_time(lambda p=pager: (p.next(), p.frame()), 1)
        rows["next"].append(seconds)
        rows["next_mlflow"].append(median_time(lambda: mlflow_page(token), 1)[0])
        shown = {"rows": len(frame), "columns": len(frame.columns),
                 "further_page": later + 1, "further_rows": len(pager.current.rows)}
    result = {name: statistics.median(values) for name, values in rows.items()}
    return {"first view": {"workbench": result["first"], "mlflow": result["first_mlflow"]},
            "further page": {"workbench": result["next"], "mlflow": result["next_mlflow"]},
            "page": shown}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--page", type=int, default=20,
                        help="the further page timed (20: runs 951-1000; capped at the last "
                             "full page); each side walks there page by page first")
    parser.add_argument("--build", choices=["sql", "mlflow"], default="sql",
                        help="sql: one run through MLflow, copied in SQL (seconds); mlflow: "
                             "every run through log_batch (~30 ms a run)")
    parser.add_argument("--store", type=Path, default=None,
                        help="WORKBENCH_HOME to build in and keep (reused when full)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wb-bench-runs-") as scratch:
        use_store(args.store or Path(scratch) / "wb")
        started = time.perf_counter()
        import mlflow  # noqa: F401  (a running dashboard has it imported)

        import_s = time.perf_counter() - started
        experiment, build_s = populate(args.runs, args.metrics, args.build)
        figures = measure(experiment, args.runs, args.repeats, args.page)
    page = figures.pop("page")
    print(f"{args.runs} runs x {args.metrics} metrics; page of {page['rows']} rows x "
          f"{page['columns']} columns; further page = page {page['further_page']}; "
          f"median of {args.repeats}; "
          + (f"store built in {build_s:.1f} s" if build_s else "store reused"))
    print(f"{'view':<14} {'workbench s':>12} {'mlflow s':>10} {'ratio':>7} {'aim s':>6}  ok")
    missed = []
    for name, pair in figures.items():
        ok = pair["workbench"] < AIMS_S[name]
        missed += [] if ok else [name]
        print(f"{name:<14} {pair['workbench']:>12.3f} {pair['mlflow']:>10.3f} "
              f"{pair['workbench'] / pair['mlflow']:>6.2f}x {AIMS_S[name]:>6.2f}  "
              f"{'yes' if ok else 'NO'}")
    print(f"(import mlflow took {import_s:.1f} s once; a running dashboard has paid it; load "
          f"average {os.getloadavg()[0]:.1f})")
    report = {"runs": args.runs, "metrics": args.metrics, "repeats": args.repeats,
              "build_s": build_s, "import_mlflow_s": import_s, "page": page,
              "figures": figures, "aims_s": AIMS_S, "missed": missed,
              "load_average": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
