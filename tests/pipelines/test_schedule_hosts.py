"""Schedulers on different hosts (separate processes, each with its own WORKBENCH_HOME) sharing
one tracking store, embedded SQLite and a real `mlflow server`: a slot runs exactly once, a
slot whose scheduler was SIGKILLed is taken over and completed once, one stopped by SIGTERM is
due again at once, and the history says what happened."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import wait_for
from tests.pipelines.test_run import notebook
from tests.stores import GATE_WAIT, Store, finish, release, spawn
from workbench.pipelines.slots import SlotBook

SLOT = f"{time.gmtime().tm_year}-01-01T00:00:00+00:00"  # yearly: no new slot mid-test
FAST = ["--heartbeat", "0.5", "--stale-after", "4"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "hoststeps.py").write_text(
        "import os, time\n"
        "def work(seconds):\n"
        "    with open('log.txt', 'a') as out:\n"
        "        out.write(f'{os.getpid()} start\\n')\n"
        "    time.sleep(seconds)\n"
        "    with open('log.txt', 'a') as out:\n"
        "        out.write(f'{os.getpid()} done\\n')\n")
    notebook(root / "work.ipynb", "seconds = 1.0",
             "import os, time\n"
             "open('log.txt', 'a').write(f'{os.getpid()} start\\n')\n"
             "time.sleep(seconds)\n"
             "open('log.txt', 'a').write(f'{os.getpid()} done\\n')")
    return root


def spec(root: Path, name: str, seconds: float, *, kind: str = "function") -> None:
    """Pipeline `name` (unique: the server store is shared by the session's tests), due now."""
    step = "{name: work, function: 'hoststeps:work'}" if kind == "function" else \
        "{name: work, notebook: work.ipynb}"
    (root / "pipelines" / f"{name}.yaml").write_text(
        f"name: {name}\nparams:\n  seconds: {{type: float, default: {seconds}}}\n"
        f"steps:\n- {step}\n"
        "schedule: '0 0 1 1 *'\nschedule_since: '2000-01-01T00:00:00+00:00'\n")


def log(root: Path) -> list[str]:
    path = root / "log.txt"
    return path.read_text().splitlines() if path.exists() else []


def started(root: Path, process: subprocess.Popen[str]) -> None:
    """Wait until the slot's step has started (its line in log.txt) in `process`."""
    try:
        wait_for(lambda: log(root) or process.poll() is not None, timeout=240, interval=0.2)
    except AssertionError:
        process.kill()
        raise AssertionError(f"the step never started: {process.communicate()}") from None
    assert process.poll() is None, process.communicate()


def scheduler(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", "scheduler", *args],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def on_cluster(store: Store, name: str, dask_client: Any) -> dict[str, str]:
    """A host's environment, on the session's dask cluster (quick to start)."""
    return {**store.client_env(name), "WORKBENCH_SCHEDULER": dask_client.scheduler.address}


def client() -> Any:
    from workbench.tracking.store import tracking_client

    return tracking_client()


def pipeline_runs(name: str) -> list[Any]:
    experiment = client().get_experiment_by_name(f"pipeline-{name}")
    return [] if experiment is None else client().search_runs(
        [experiment.experiment_id], filter_string="tags.`workbench.kind` = 'pipeline'")


RACE = GATE_WAIT + """
import json
from pathlib import Path
from workbench.pipelines.schedule import Scheduler
from workbench.tracking.store import tracking_client
tracking_client()  # connected before the gate: the race is the claim
service = Scheduler(Path(sys.argv[2]), heartbeat_s=0.5, stale_s=30)
started = service.tick(wait=True)
print(json.dumps([[n, s, service.outcomes[(n, s)].state] for n, s in started]))
"""


def test_schedulers_racing_one_due_slot_run_it_exactly_once(store: Store, project: Path,
                                                            dask_client: Any) -> None:
    name = store.unique("work")
    spec(project, name, 1.0)
    gate = store.tmp / "go"
    racers = [spawn(RACE, on_cluster(store, f"host{i}", dask_client),
                    args=[str(gate), str(project)]) for i in range(3)]
    time.sleep(4)  # let them import and connect
    release(gate)
    results = [finish(p) for p in racers]
    assert all(code == 0 for code, _, _ in results), results
    claimed = [json.loads(out) for _, out, _ in results]
    assert sorted(len(s) for s in claimed) == [0, 0, 1], claimed
    assert [s for s in claimed if s] == [[[name, SLOT, "ran"]]]
    assert [line.split()[1] for line in log(project)] == ["start", "done"]
    [record] = SlotBook(client()).history(name)
    assert (record.slot, record.state, record.taken_over_from) == (SLOT, "ran", "")
    assert [r.info.status for r in pipeline_runs(name)] == ["FINISHED"]


@pytest.mark.timeout(600)  # a scheduler with a cluster of its own starts in 10-60 s
def test_a_sigkilled_schedulers_slot_is_taken_over_and_completes_once(
        store: Store, project: Path, dask_client: Any) -> None:
    from workbench.tracking import leases

    name = store.unique("work")
    spec(project, name, 5.0)
    first = scheduler(project, store.client_env("a"), "--interval", "1", *FAST)  # own cluster
    try:
        started(project, first)
        worker = int(log(project)[0].split()[0])
        first.kill()  # SIGKILL mid-slot: no chance to record or release anything
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    wait_for(lambda: not psutil.pid_exists(worker), timeout=30)  # its host's worker died too
    assert [r.info.status for r in pipeline_runs(name)] == ["RUNNING"]  # left behind
    lease = f"workbench.schedule.{name}"
    wait_for(lambda: (leases.read(client(), lease) or _gone()).age_s > 4, timeout=30)

    second = scheduler(project, on_cluster(store, "b", dask_client), "--once", *FAST)
    code, out, err = finish(second)
    assert code == 0, err
    assert out.strip() == f"ran {name} for {SLOT}"
    assert [line.split()[1] for line in log(project)] == ["start", "start", "done"]
    dead = f"{socket.gethostname()}:{first.pid}"
    [record] = SlotBook(client()).history(name)
    assert (record.state, record.taken_over_from) == ("ran", dead)
    assert record.what == f"taken over from {dead}, ran"
    runs = {r.info.status: r for r in pipeline_runs(name)}
    assert sorted(runs) == ["FINISHED", "KILLED"]
    assert record.pipeline_run == runs["FINISHED"].info.run_id
    assert f"its scheduler {dead} stopped" in runs["KILLED"].data.tags["workbench.error"]
    assert leases.read(client(), f"workbench.schedule.{name}") is None

    listed = subprocess.run([sys.executable, "-m", "workbench.cli", "pipeline", "list",
                             "--json"], cwd=project, env=store.client_env("b"),
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["pipelines"]
    assert row["next_run"] == f"{time.gmtime().tm_year + 1}-01-01T00:00:00+00:00"
    assert [(s["slot"], s["what"]) for s in row["slots"]] == [(SLOT, record.what)]
    table = subprocess.run([sys.executable, "-m", "workbench.cli", "pipeline", "list"],
                           cwd=project, env=store.client_env("b"), capture_output=True,
                           text=True, timeout=120)
    assert "taken over from" in table.stdout, table.stdout


def test_a_sigtermed_schedulers_slot_is_due_again_at_once(store: Store, project: Path,
                                                          dask_client: Any) -> None:
    from workbench.tracking import leases

    name = store.unique("work")
    spec(project, name, 6.0, kind="notebook")  # a kernel: a stop kills it on the shared cluster
    first = scheduler(project, on_cluster(store, "a", dask_client), "--interval", "1", *FAST)
    try:
        started(project, first)
        first.send_signal(signal.SIGTERM)
        code, _, err = finish(first, timeout_s=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert code == 0, err
    assert "Traceback" not in err, err
    [record] = SlotBook(client()).history(name)
    assert record.state == "interrupted"
    # released: the next scheduler need not wait for it to go stale
    assert leases.read(client(), f"workbench.schedule.{name}") is None
    assert [r.info.status for r in pipeline_runs(name)] == ["KILLED"]

    second = scheduler(project, on_cluster(store, "b", dask_client), "--once", *FAST)
    code, out, err = finish(second)
    assert code == 0 and out.strip() == f"ran {name} for {SLOT}", err
    assert [line.split()[1] for line in log(project)] == ["start", "start", "done"]
    [record] = SlotBook(client()).history(name)
    assert record.state == "ran" and "interrupted" in record.to_dict()["events"]
    assert sorted(r.info.status for r in pipeline_runs(name)) == ["FINISHED", "KILLED"]


def _gone() -> Any:
    raise AssertionError("the lease vanished")


def test_scheduler_failures_are_one_error_line(project: Path, wb_home: Path,
                                               dask_client: Any) -> None:
    (project / "hoststeps.py").write_text("def work(seconds):\n    raise ValueError('no data')\n")
    name = "work"
    spec(project, name, 0.1)
    env = {**os.environ, "WORKBENCH_HOME": str(wb_home),
           "WORKBENCH_SCHEDULER": dask_client.scheduler.address}
    code, out, err = finish(scheduler(project, env, "--once"))
    assert code == 1 and out == ""
    err = "\n".join(line for line in err.splitlines() if not line.startswith("workbench: "))
    assert err.strip().splitlines() == [
        f"error: {name} slot {SLOT} failed: pipeline {name} failed (run "
        + err.split("(run ")[1].split(")")[0] + "): step work failed: ValueError: no data"], err
    bad = finish(scheduler(project, {**env, "WORKBENCH_STALE_S": "-1"}, "--once"))
    assert bad[0] == 1 and bad[2].strip().splitlines() == [
        "error: WORKBENCH_STALE_S='-1' is not a positive number of seconds; fix or unset it"]
