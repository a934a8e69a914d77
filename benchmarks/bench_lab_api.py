"""What JupyterLab's Workbench sidebar costs the server, beside MLflow's own search_runs.

    python benchmarks/bench_lab_api.py                 # 10,000 runs x 100 metrics
    python benchmarks/bench_lab_api.py --runs 1000 --check

Builds an embedded store of `--runs` finished runs (as bench_runs_page.py does: one through
MLflow, the rest copied in SQL), starts a real `jupyter server` with workbench-lab on it
(loopback, a token), and times, `--repeats` rounds interleaved, the median of each:

- `GET /workbench/api/runs?page_size=50`: the server's own time (its Server-Timing header) and
  the round trip, beside `MlflowClient.search_runs(max_results=50)` in this process (the read
  the MLflow UI's runs table makes), for the same experiment and order;
- `GET /workbench/api/overview`: the sidebar's one request per refresh (store and cluster
  probes, the newest runs, every model and pipeline), beside the same reads made as separate
  requests (runs, models: what a sidebar calling one route per section would send).

Aim: a page of runs under 200 ms of server time. Prints a table, writes JSON (default
benchmarks/results/lab_api.json); with --check, exit 1 when the aim is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runs_page import populate, use_store

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lab_api.json"
AIM_MS = 200.0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the aim is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wb-bench-lab-") as scratch:
        root = Path(scratch) / "project"
        root.mkdir()
        use_store(Path(scratch) / "wb")
        experiment, build_s = populate(args.runs, args.metrics, "sql")
        token, port = secrets.token_hex(16), free_port()
        server = start_server(root, port, token)
        try:
            get(port, token, "runs?page_size=50")  # the server's first store touch
            get(port, token, "overview")
            figures = measure(port, token, experiment, args.repeats)
        finally:
            server.terminate()
            server.wait(30)
    m = figures["median_ms"]
    ok = m["api_server"] < AIM_MS
    print(f"{args.runs} runs x {args.metrics} metrics, a page of {figures['rows']} runs; "
          f"store built in {build_s:.1f} s; median of {args.repeats} (ms)")
    print(f"{'read':<34} {'server':>8} {'trip':>8} {'mlflow':>8} {'ratio':>7}")
    print(f"{'GET runs (page of 50)':<34} {m['api_server']:>8.1f} {m['api_trip']:>8.1f} "
          f"{m['mlflow']:>8.1f} {m['api_server'] / m['mlflow']:>6.2f}x")
    print(f"{'GET overview (1 request/refresh)':<34} {m['overview_server']:>8.1f} "
          f"{m['overview_trip']:>8.1f} {'':>8} {'':>7}")
    print(f"{'runs + models as 2 requests':<34} {'':>8} {m['separate_trip']:>8.1f}")
    print(f"aim: a page under {AIM_MS:.0f} ms of server time: {'yes' if ok else 'NO'} "
          f"(load average {os.getloadavg()[0]:.1f})")
    report = {"runs": args.runs, "metrics": args.metrics, "repeats": args.repeats,
              "build_s": build_s, **figures, "aim_ms": AIM_MS, "ok": ok,
              "load_average": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
