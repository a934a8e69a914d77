"""A WORKBENCH_SCHEDULER cluster whose workers do not have the project's files still runs the
project's train function: it travels by value."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.project.layout import make_project, user_env, workbench
from tests.stores import free_port
from workbench.dask_cluster import live_workers


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_ships_the_project_function_to_workers_without_the_file(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    elsewhere = tmp_path / "worker-home"  # the workers' folder: no bike_model.py on their path
    elsewhere.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = user_env()
    log = (tmp_path / "cluster.log").open("w")
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
                                 cwd=elsewhere, env=env, stdout=log, stderr=log)
    worker = subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "1",
                               "--nworkers", "1", "--host", "127.0.0.1"],
                              cwd=elsewhere, env=env, stdout=log, stderr=log)
    try:
        _wait_for_a_worker(address)
        done = workbench("train", "bike_model:fit", "--data", "data/x.csv", "--json",
                         cwd=root, env=user_env(WORKBENCH_SCHEDULER=address))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["metrics"]["doubled"] == 24.0
        assert "starting a local dask cluster" not in done.stderr  # someone else's cluster:
        assert "workbench: dask dashboard: http://127.0.0.1:" in done.stderr  # only its link
    finally:
        for child in (worker, scheduler):
            child.terminate()
            child.wait(timeout=60)
        log.close()


def _wait_for_a_worker(address: str, timeout_s: float = 120.0) -> None:
    from distributed import Client

    with Client(address, timeout="60s", set_as_default=False) as client:
        deadline = time.monotonic() + timeout_s
        while not live_workers(client):
            assert time.monotonic() < deadline, "no dask worker joined"
            time.sleep(0.5)
