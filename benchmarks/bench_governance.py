"""The governance benchmark: what the tracking server's governance costs, side by side in one
run against real `mlflow server` processes on loopback (SQLite behind them, basic auth on).

    python benchmarks/bench_governance.py            # about 2 min on 2 cores
    python benchmarks/bench_governance.py --quick    # fewer repetitions
    python benchmarks/bench_governance.py --out /tmp/governance.json

1. A promotion with two gates (a metric gate and beat-the-champion), from call to return:
   governed (one request; the server runs gates, lock, record and history as the verified
   login) against the same core run in this process writing through the REST API (how every
   promotion ran before the server governed it), on the same `--app-name workbench` server.
   Target: governed <= 2x direct.
2. `log_batch` of 100 metric points: the `workbench` app (its guard reads the run's status
   before a metric write) against MLflow's plain `basic-auth` app. Target: the guard adds
   < 5 ms a call.

Prints a table and writes JSON (default benchmarks/results/governance.json).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_OUT = REPO / "benchmarks" / "results" / "governance.json"
ADMIN, PASSWORD = "bench-admin", secrets.token_urlsafe(12)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(root: Path, app: str) -> Iterator[str]:
    """`mlflow server --app-name APP` over SQLite in `root`, artifacts proxied."""
    root.mkdir(parents=True)
    ini = root / "auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = EDIT\ndatabase_uri = sqlite:///{root}/auth.db"
                   f"\nadmin_username = {ADMIN}\nadmin_password = {PASSWORD}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   "auth_cache_ttl_seconds = 60\n")
    ini.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    env.update({"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION":
                "false", "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
                "WORKBENCH_HISTORY_KEY": secrets.token_hex(16),
                "WORKBENCH_DATA_ROOTS": str(root)})
    port = free_port()
    log = (root / "server.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", app, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--backend-store-uri",
         f"sqlite:///{root}/mlflow.db", "--serve-artifacts", "--artifacts-destination",
         (root / "artifacts").as_uri()], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2):
                    break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield uri
    finally:
        child.terminate()
        child.wait(timeout=30)
        log.close()


def use(uri: str) -> None:
    os.environ.update({"MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_USERNAME": ADMIN,
                       "MLFLOW_TRACKING_PASSWORD": PASSWORD})
    from workbench.governance import remote

    remote._FOUND.clear()


def model_run(auc: float) -> str:
    from tests.promotion.runs import model_run as make

    return make(auc)


def promotions(uri: str, repeats: int) -> dict[str, list[float]]:
    """Seconds per promotion with two gates: governed, and the same core in this process."""
    import workbench as wb
    from workbench.promotion.promote import promote_as
    from workbench.promotion.records import local_actor
    from workbench.tracking.store import tracking_client

    use(uri)
    gates = {"require": ["val_auc>=0.5"], "beat_champion": "val_auc"}
    times: dict[str, list[float]] = {"governed": [], "direct": []}
    for kind in ("direct", "governed", "direct", "governed"):  # interleaved: same load
        model = f"bench-{kind}-{secrets.token_hex(3)}"
        runs = [model_run(0.6 + 0.3 * i / repeats) for i in range(repeats + 1)]
        client = tracking_client()
        for index, run_id in enumerate(runs):
            started = time.perf_counter()
            if kind == "governed":
                wb.promote(model, run_id=run_id, reason="better", **gates)  # type: ignore
            else:
                promote_as(client, local_actor("bench", "better"), model, run_id=run_id,
                           reason="better", **gates)  # type: ignore[arg-type]
            if index:  # the first registers the model: not what is compared
                times[kind].append(time.perf_counter() - started)
    return times


def log_batches(uri: str, calls: int) -> list[float]:
    from mlflow.entities import Metric

    from workbench.tracking.store import tracking_client

    use(uri)
    client = tracking_client()
    experiment = client.create_experiment(f"bench-{secrets.token_hex(3)}")
    run_id = client.create_run(experiment).info.run_id
    seconds = []
    for call in range(calls):
        points = [Metric("loss", 1.0 / (i + 1), 0, call * 100 + i) for i in range(100)]
        started = time.perf_counter()
        client.log_batch(run_id, metrics=points)
        seconds.append(time.perf_counter() - started)
    return seconds[2:]  # the first calls warm connections and caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    repeats, calls = (4, 20) if args.quick else (8, 60)
    scratch = Path(tempfile.mkdtemp(prefix="wb-bench-governance-"))
    os.environ["WORKBENCH_HOME"] = str(scratch / "home")
    try:
        with server(scratch / "workbench", "workbench") as governed, \
                server(scratch / "plain", "basic-auth") as plain:
            promoted = promotions(governed, repeats)
            batches = {"workbench": [], "basic-auth": []}  # type: dict[str, list[float]]
            for _ in range(2):  # interleaved: same load on both
                batches["basic-auth"] += log_batches(plain, calls // 2)
                batches["workbench"] += log_batches(governed, calls // 2)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in promoted.items()}
    batch = {k: statistics.median(v) for k, v in batches.items()}
    added_ms = (batch["workbench"] - batch["basic-auth"]) * 1000
    rows = [("promotion, 2 gates: governed / direct (same server)",
             f"{median['governed'] * 1000:.0f} ms / {median['direct'] * 1000:.0f} ms",
             f"{median['governed'] / median['direct']:.2f}x", "<= 2x"),
            ("log_batch of 100 points: workbench app / basic-auth app",
             f"{batch['workbench'] * 1000:.1f} ms / {batch['basic-auth'] * 1000:.1f} ms",
             f"{added_ms:+.1f} ms a call", "< 5 ms"),
            ("metric points/s: workbench app / basic-auth app",
             f"{100 / batch['workbench']:.0f} / {100 / batch['basic-auth']:.0f}",
             f"{batch['basic-auth'] / batch['workbench']:.2f}x", "")]
    width = max(len(r[0]) for r in rows)
    print(f"{'comparison':<{width}}  {'times':<24} {'ratio':<16} target")
    for name, times, ratio, target in rows:
        print(f"{name:<{width}}  {times:<24} {ratio:<16} {target}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"promotion_s": promoted, "log_batch_s": batches,
                                    "guard_added_ms": added_ms}, indent=2))


if __name__ == "__main__":
    main()
