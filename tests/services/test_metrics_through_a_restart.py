"""Metrics reach the services' tracking server in batches, and a server restart in the middle
of a run loses none of them: the loop never waits, the writer keeps them and flushes them
when the server is back."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import workbench as wb
from tests.helpers import wait_for
from tests.service_stack import services

STEPS = 300


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_server_restart_mid_run_loses_no_metric(
        services_stack: tuple[Path, dict[str, str]], wb_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home, env = services_stack
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from workbench.tracking.store import tracking_client

    def steady_loop(ctx: Any) -> None:  # in here: it travels by value to the workers
        """300 steps over ~15 s; the slowest `log_metrics` call is logged at the end."""
        slowest = 0.0
        for step in range(STEPS):
            started = time.perf_counter()
            ctx.log_metrics({"loss": 1.0 / (step + 1), "step_echo": float(step)}, step=step)
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.05)
        ctx.log_metrics({"slowest_log_s": slowest}, step=STEPS)

    client = tracking_client()
    job = wb.train(steady_loop, progress=False)
    wait_for(lambda: client.get_run(job.run_id).data.metrics.get("step_echo", 0) >= 20,
             timeout=120, interval=0.2)
    state = json.loads((home / "services" / "state.json").read_text())
    os.killpg(state["procs"]["mlflow"]["pid"], signal.SIGKILL)  # the server dies mid-run
    time.sleep(3)
    back = services(home, "up")
    assert back.returncode == 0, back.stderr
    result = job.result(timeout=300)
    history = client.get_metric_history(job.run_id, "step_echo")
    assert sorted(int(m.step) for m in history) == list(range(STEPS))  # none lost, none twice
    assert result.metrics["slowest_log_s"] < 0.05  # the loop never waited on the server
    assert client.get_run(job.run_id).info.status == "FINISHED"


CLIENT = """
import json, os, sys, time
from pathlib import Path
from workbench.tracking.sinks import mlflow_sink
from workbench.tracking.store import ensure_experiment, tracking_client
from workbench.tracking.writer import MetricWriter
from workbench.training.runner import _kept_unwritten

gate = Path(sys.argv[1])
client = tracking_client()
run_id = client.create_run(ensure_experiment(client, "writer-outage")).info.run_id
writer = MetricWriter(mlflow_sink(client, run_id), interval=0.05, max_retries=2)
for step in range(200):
    writer.log({"step_echo": float(step)}, step)
    time.sleep(0.01)
    if step == 100:
        writer.flush()
        gate.write_text(run_id)  # the test kills the server now, and says when it is dead
        while not gate.with_suffix(".dead").exists():
            time.sleep(0.05)
try:
    writer.close(timeout=60)
except Exception as exc:
    print(json.dumps({"run_id": run_id, "error": str(_kept_unwritten(writer, run_id, exc))}))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_points_a_server_that_never_returns_did_not_take_are_reported_kept_and_replayed(
        services_stack: tuple[Path, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server dies and stays down: the writer gives up, says how many points the store did
    not take, and keeps them in a file on its host; `workbench replay-metrics` writes them
    once the server is back, each point once."""
    import re
    import subprocess

    from tests.stores import finish, spawn

    home, env = services_stack
    client_env = {k: v for k, v in os.environ.items()
                  if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    client_env.update({**env, "WORKBENCH_HOME": str(tmp_path / "client-home"),
                       "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"})
    gate = tmp_path / "gate"
    child = spawn(CLIENT, client_env, args=[str(gate)])
    wait_for(gate.exists, timeout=120, interval=0.1)
    state = json.loads((home / "services" / "state.json").read_text())
    os.killpg(state["procs"]["mlflow"]["pid"], signal.SIGKILL)
    wait_for(lambda: services(home, "status", "--json").returncode != 0, timeout=30)
    gate.with_suffix(".dead").write_text("")
    code, out, err = finish(child)
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    found = re.search(r"did not take (\d+) metric points of run (\w+); they are kept in "
                      r"[^:]+:(\S+): once the store is back, run `workbench replay-metrics "
                      r"(\S+)` there", report["error"])
    assert found, report["error"]
    count, kept = int(found.group(1)), Path(found.group(3))
    assert found.group(2) == report["run_id"] and kept == Path(found.group(4))
    assert count > 0 and kept.is_relative_to(tmp_path / "client-home")
    assert len(kept.read_text().splitlines()) == count

    back = services(home, "up")
    assert back.returncode == 0, back.stderr
    replay = [str(Path(sys.executable).with_name("workbench")), "replay-metrics", str(kept)]
    done = subprocess.run(replay, env=client_env, text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from workbench.tracking.store import tracking_client

    server = tracking_client()
    steps = sorted(m.step for m in server.get_metric_history(report["run_id"], "step_echo"))
    assert steps == list(range(200))  # none lost, none twice
    again = subprocess.run(replay, env=client_env, text=True, capture_output=True, timeout=120)
    assert again.returncode == 0 and f": 0 of {count} points written" in again.stdout
