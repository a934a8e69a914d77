"""What JupyterLab's Workbench sidebar costs the server, beside MLflow's own search_runs.

    python benchmarks/bench_lab_api.py                 # 10,000 runs x 100 metrics
    python benchmarks/bench_lab_api.py --runs 1000 --check

Builds an embedded store of `--runs` finished runs (as bench_runs_page.py does: one through
MLflow, the rest copied in SQL) and, beside them, `--models` registered models (each promoted
once, with a four-eyes request waiting and a drift check logged) and `--pipelines` pipelines
(each with a finished run). Starts a real `jupyter server` with workbench-lab on it (loopback,
a token), and times, `--repeats` rounds interleaved, the median of each:

- `GET /workbench/api/runs?page_size=50`: the server's own time (its Server-Timing header) and
  the round trip, beside `MlflowClient.search_runs(max_results=50)` in this process (the read
  the MLflow UI's runs table makes), for the same experiment and order;
- `GET /workbench/api/overview`: the sidebar's one request per refresh (experiments, the
  newest runs, every model and pipeline), beside the same reads made as separate requests
  (runs, models: what a sidebar calling one route per section would send).

It also counts the SQL statements each read sends to the store (`StoreQueries`: those MLflow's
SQLAlchemy store executes and those on workbench's read-only sqlite3 connections), in this
process around the call the handler makes (`views.overview`, `views.runs`), after a first one
(MLflow's schema check and first-touch caches are not a refresh's), and MLflow's search_runs
beside them.

Aim: a page of runs under 200 ms of server time. Prints a table, writes JSON (default
benchmarks/results/lab_api.json); with --check, exit 1 when the aim is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runs_page import populate, use_store

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lab_api.json"
AIM_MS = 200.0


class StoreQueries:
    """The SQL statements this process sends to SQLite stores while `counting()`: each one
    MLflow's SQLAlchemy store executes (its connection pings aside) and each one run on a
    connection opened by `sqlite3.connect` (workbench's read-only fast path, opened anew by
    each `read_client()`). Installed for the process by `installed()`."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.active = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[StoreQueries]:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        opened = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            connection = opened(*args, **kwargs)
            connection.set_trace_callback(self._seen)
            return connection

        def executed(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            self._seen(statement)

        sqlite3.connect = connect  # type: ignore[assignment]  # SQLAlchemy's is dbapi2's
        event.listen(Engine, "before_cursor_execute", executed)
        try:
            yield self
        finally:
            event.remove(Engine, "before_cursor_execute", executed)
            sqlite3.connect = opened

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        """The statements sent while the block runs."""
        self.statements, self.active = [], True
        try:
            yield self.statements
        finally:
            self.active = False

    def count(self, action: Callable[[], Any]) -> int:
        with self.counting() as sent:
            action()
        return len(sent)

    def _seen(self, statement: str) -> None:
        if self.active:
            self.statements.append(" ".join(statement.split())[:200])


def seed_governance(root: Path, models: int, pipelines: int, first: int = 0) -> None:
    """`models` registered models, model-FIRST on (the first `pipelines` of them made by a
    pipeline, pipeline-N for model-N), each promoted once with a four-eyes request waiting
    and one drift check; a finished run of each pipeline."""
    import mlflow
    import pandas as pd

    import workbench as wb
    from workbench.tracking.store import ensure_experiment, tracking_client

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        # no type hints: MLflow would read them as the model's signature, and warn
        def predict(self, context, model_input, params=None):
            return [0.5] * len(model_input)

    client = tracking_client()
    with mlflow.start_run(experiment_id=ensure_experiment(client, "bench-models")) as run:
        client.log_metric(run.info.run_id, "val_auc", 0.8)
        mlflow.pyfunc.log_model(name="model", python_model=Constant(),
                                pip_requirements=["mlflow"])
    notebook = root / "pilot.ipynb"
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                    "cells": [{"cell_type": "code", "source": "rows = 10",
                                               "metadata": {"tags": ["parameters"]},
                                               "outputs": [], "execution_count": None}]}))
    reference = pd.DataFrame({"x": [float(i % 17) for i in range(300)]})
    for index in range(first, first + models):
        name = f"model-{index}"
        if index < first + pipelines:
            wb.pipeline.create(notebook, name=f"pipeline-{index}", model=name, root=root)
            done = client.create_run(ensure_experiment(client, f"pipeline-pipeline-{index}"),
                                     tags={"workbench.kind": "pipeline"})
            client.set_terminated(done.info.run_id, "FINISHED")
        wb.promote(name, run_id=run.info.run_id, approver="alice", reason="first", root=root)
        wb.promote(name, run_id=run.info.run_id, approver="alice", reason="again",
                   four_eyes=True, root=root)
        wb.drift(reference, reference + index).log(model=name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(root: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--no-browser",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            get(port, token, "whoami")
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("jupyter server did not answer within 90 s")


def get(port: int, token: str, route: str) -> tuple[float, float, Any]:
    """(server ms, round-trip ms, body) of one GET."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/workbench/api/{route}",
                                     headers={"Authorization": f"token {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
        timing = response.headers.get("Server-Timing", "app;dur=nan")
    trip = (time.perf_counter() - started) * 1000
    return float(timing.split("dur=")[1]), trip, body


def measure(port: int, token: str, experiment: str, repeats: int) -> dict[str, Any]:
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    samples: dict[str, list[float]] = {k: [] for k in (
        "api_server", "api_trip", "mlflow", "overview_server", "overview_trip",
        "separate_trip")}
    rows = 0
    for _ in range(repeats):
        server_ms, trip_ms, body = get(port, token, "runs?page_size=50")
        rows = len(body["runs"])
        samples["api_server"].append(server_ms)
        samples["api_trip"].append(trip_ms)
        started = time.perf_counter()
        client.search_runs([experiment], max_results=50,
                           order_by=["attributes.start_time DESC"])
        samples["mlflow"].append((time.perf_counter() - started) * 1000)
        server_ms, trip_ms, _ = get(port, token, "overview")
        samples["overview_server"].append(server_ms)
        samples["overview_trip"].append(trip_ms)
        started = time.perf_counter()
        for route in ("runs?page_size=20", "models"):
            get(port, token, route)
        samples["separate_trip"].append((time.perf_counter() - started) * 1000)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    return {"rows": rows, "median_ms": medians}


def count_queries(queries: StoreQueries, root: Path, experiment: str) -> dict[str, Any]:
    """The statements one overview, one page of GET runs and MLflow's search_runs send (each
    counted on a second call: the first pays MLflow's schema check and first-touch caches)."""
    from workbench.overview import model_overview
    from workbench.tracking.store import tracking_client
    from workbench_lab import views

    client = tracking_client()
    reads: dict[str, Callable[[], Any]] = {
        "overview": lambda: views.overview(root),
        "runs_page": lambda: views.runs(None, "", [], None, None, 50),
        "models": lambda: model_overview(root),
        "mlflow_search_runs": lambda: client.search_runs(
            [experiment], max_results=50, order_by=["attributes.start_time DESC"])}
    counts: dict[str, Any] = {}
    for name, read in reads.items():
        read()
        with queries.counting() as sent:
            read()
        counts[name] = len(sent)
        if name == "overview":
            counts["overview_statements"] = list(sent)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--pipelines", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the aim is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wb-bench-lab-") as scratch, \
            StoreQueries().installed() as queries:
        root = Path(scratch) / "project"
        root.mkdir()
        use_store(Path(scratch) / "wb")
        experiment, build_s = populate(args.runs, args.metrics, "sql")
        seed_governance(root, args.models, min(args.pipelines, args.models))
        token, port = secrets.token_hex(16), free_port()
        server = start_server(root, port, token)
        try:
            get(port, token, "runs?page_size=50")  # the server's first store touch
            get(port, token, "overview")
            figures = measure(port, token, experiment, args.repeats)
        finally:
            server.terminate()
            server.wait(30)
        figures["queries"] = count_queries(queries, root, experiment)
    m, q = figures["median_ms"], figures["queries"]
    ok = m["api_server"] < AIM_MS
    print(f"{args.runs} runs x {args.metrics} metrics, {args.models} models, "
          f"{args.pipelines} pipelines, a page of {figures['rows']} runs; store built in "
          f"{build_s:.1f} s; median of {args.repeats} (ms); queries: SQL statements sent to "
          "the store by one call")
    print(f"{'read':<34} {'server':>8} {'trip':>8} {'mlflow':>8} {'ratio':>7} {'queries':>8}")
    print(f"{'GET runs (page of 50)':<34} {m['api_server']:>8.1f} {m['api_trip']:>8.1f} "
          f"{m['mlflow']:>8.1f} {m['api_server'] / m['mlflow']:>6.2f}x {q['runs_page']:>8}")
    print(f"{'MLflow search_runs (page of 50)':<34} {'':>8} {'':>8} {m['mlflow']:>8.1f} "
          f"{'':>7} {q['mlflow_search_runs']:>8}")
    print(f"{'GET overview (1 request/refresh)':<34} {m['overview_server']:>8.1f} "
          f"{m['overview_trip']:>8.1f} {'':>8} {'':>7} {q['overview']:>8}")
    print(f"{'runs + models as 2 requests':<34} {'':>8} {m['separate_trip']:>8.1f} {'':>8} "
          f"{'':>7} {q['runs_page'] + q['models']:>8}")
    print(f"aim: a page under {AIM_MS:.0f} ms of server time: {'yes' if ok else 'NO'} "
          f"(load average {os.getloadavg()[0]:.1f})")
    report = {"runs": args.runs, "metrics": args.metrics, "models": args.models,
              "pipelines": args.pipelines, "repeats": args.repeats, "build_s": build_s,
              **figures, "aim_ms": AIM_MS, "ok": ok, "load_average": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
