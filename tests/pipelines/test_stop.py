"""Ctrl-C or SIGTERM on a real `workbench pipeline run`: the running steps stop (their kernels
are gone), they end KILLED, and nothing turns FINISHED later."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import wait_for
from tests.pipelines.test_run import notebook

SLEEP_S = 8.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    notebook(root / "slow.ipynb", f"seconds = {SLEEP_S}",
             "import os, pathlib, time\n"
             "pathlib.Path('kernel.pid').write_text(str(os.getpid()))\n"
             "time.sleep(seconds)\n"
             "pathlib.Path('finished.txt').write_text('the cell ran to its end')")
    (root / "stopfns.py").write_text(
        "import pathlib\n"
        "def after():\n    pathlib.Path('after.txt').write_text('ran')\n")
    (root / "pipelines" / "slow.yaml").write_text(
        "name: slow\nsteps:\n- {name: slow, notebook: slow.ipynb}\n"
        "- {name: after, function: 'stopfns:after', depends_on: [slow]}\n")
    return root


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_stopping_a_pipeline_run_kills_its_steps(how: str, project: Path, wb_home: Path,
                                                 dask_client: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_SCHEDULER"}
    env["WORKBENCH_HOME"] = str(wb_home)
    if how == "sigterm":  # the shared cluster outlives the command: the kernel must be killed
        env["WORKBENCH_SCHEDULER"] = dask_client.scheduler.address  # type: ignore[attr-defined]
    # ctrl-c: the command starts its own cluster; a terminal sends SIGINT to the whole group
    child = subprocess.Popen([sys.executable, "-m", "workbench.cli", "pipeline", "run", "slow"],
                             cwd=project, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: (project / "kernel.pid").exists() or child.poll() is not None,
                 timeout=240, interval=0.2)
        assert child.poll() is None, child.communicate()
        kernel = int((project / "kernel.pid").read_text())
        cell_started = time.time()
        if how == "ctrl-c":
            os.killpg(child.pid, signal.SIGINT)
        else:
            child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 130, err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]  # one line
    assert line.startswith("error: pipeline slow stopped (run "), err
    assert line.endswith("steps ended KILLED: slow, after"), err
    assert "Traceback" not in err and " - ERROR - " not in err, err
    assert _gone(kernel), f"kernel {kernel} still runs"

    from workbench.tracking.store import tracking_client

    client = tracking_client()
    experiment = client.get_experiment_by_name("pipeline-slow")
    assert experiment is not None

    def statuses() -> dict[str, str]:
        runs = client.search_runs([experiment.experiment_id])
        return {r.data.tags.get("workbench.step", "(pipeline)"): r.info.status for r in runs}

    assert statuses() == {"(pipeline)": "KILLED", "slow": "KILLED", "after": "KILLED"}
    time.sleep(max(0.0, cell_started + SLEEP_S + 2 - time.time()))  # past the cell's end
    assert statuses() == {"(pipeline)": "KILLED", "slow": "KILLED", "after": "KILLED"}
    assert not (project / "finished.txt").exists() and not (project / "after.txt").exists()
    [slow] = [r for r in client.search_runs([experiment.experiment_id])
              if r.data.tags.get("workbench.step") == "slow"]
    assert slow.data.tags["workbench.skipped"] == "stopped: the pipeline run was stopped"
    assert json.loads(out or "{}") == {}  # nothing on stdout: the run did not finish


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
