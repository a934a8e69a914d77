"""Metrics reach the services' tracking server in batches, and a server restart in the middle
of a run loses none of them: the loop never waits, the writer keeps them and flushes them
when the server is back."""

from __future__ import annotations

import json
import os
import signal
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
