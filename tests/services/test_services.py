"""`workbench services` as a team meets it, with real processes: PostgreSQL, an MLflow server
with basic auth on it, a dask scheduler and worker processes. `up` twice changes nothing, the
credentials are private, a client without them gets a one-line diagnosis, a killed service
is reported stale and restarted with its data, a taken port and a wrong PostgreSQL password
are named with their fix, and `down` leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import wait_for
from tests.service_stack import WORKBENCH, cli_env, services, services_home
from tests.stores import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Path, dict[str, Any]]]:
    """One stack for the module's tests, in order: the last one takes it down."""
    import shutil

    home = services_home()
    done = services(home, "up", "--json", "--workers", "2")
    assert done.returncode == 0, done.stderr
    try:
        yield home, json.loads(done.stdout)
    finally:
        services(home, "down")
        shutil.rmtree(home.parent, ignore_errors=True)


def status(home: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    done = services(home, "status", "--json")
    rows = json.loads(done.stdout)["services"]
    return done.returncode, {r["address"] if r["service"] == "worker" else r["service"]: r
                             for r in rows}


def pids(home: Path) -> dict[str, int]:
    state = json.loads((home / "services" / "state.json").read_text())["procs"]
    found = {name: r["pid"] for name, r in state.items() if name != "workers"}
    found.update({r["name"]: r["pid"] for r in state.get("workers", [])})
    return found


def python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                          capture_output=True, timeout=300)


def test_up_starts_every_service_once_with_private_credentials(stack: tuple[Path, Any]
                                                               ) -> None:
    home, first = stack
    env = first["env"]
    assert set(env) >= {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                        "MLFLOW_TRACKING_PASSWORD", "WORKBENCH_SCHEDULER"}
    assert env["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    assert env["WORKBENCH_SCHEDULER"].startswith("tcp://127.0.0.1:")
    folder = home / "services"
    for secret in ("credentials.json", "basic_auth.ini"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600, secret
    for name in ("postgres", "mlflow", "scheduler"):
        assert name in first["started"]
    code, rows = status(home)
    assert code == 0 and all(r["state"] == "ok" for r in rows.values()), rows
    assert len([r for r in rows.values() if r["service"] == "worker"]) == 2
    assert "dashboard http://127.0.0.1:" in rows["scheduler"]["detail"]
    # every server listens on loopback only
    listening = {c.laddr.ip for p in pids(home).values() for c in _listening(p)}
    assert listening and listening <= {"127.0.0.1"}, listening

    before = pids(home)
    again = services(home, "up", "--json", "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["started"] == []
    assert json.loads(again.stdout)["env"] == env
    assert pids(home) == before

    shell = subprocess.run(["bash", "-c", f'eval "$({WORKBENCH} services env)" && '
                            'echo "$MLFLOW_TRACKING_URI $WORKBENCH_SCHEDULER"'],
                           env=cli_env(home), text=True, capture_output=True)
    assert shell.stdout.split() == [env["MLFLOW_TRACKING_URI"], env["WORKBENCH_SCHEDULER"]]


def _listening(pid: int) -> list[Any]:
    from workbench.services.procs import group_pids

    found = []
    for member in group_pids(pid):
        with contextlib.suppress(psutil.Error):
            found += [c for c in psutil.Process(member).net_connections("tcp")
                      if c.status == psutil.CONN_LISTEN]
    return found


def test_the_workbench_runs_on_them_and_a_client_without_the_login_is_told_why(
        stack: tuple[Path, Any], tmp_path: Path) -> None:
    _, first = stack
    user = {**cli_env(tmp_path / "elsewhere"), **first["env"]}  # another host: its own home
    trained = subprocess.run([WORKBENCH, "train", "--demo", "--rows", "400", "--epochs", "1",
                              "--json"], env=user, text=True, capture_output=True,
                             cwd=tmp_path, timeout=600)
    assert trained.returncode == 0, trained.stderr
    run_id = json.loads(trained.stdout)["run_id"]
    assert "starting a local dask cluster" not in trained.stderr  # the services' workers
    seen = python("import sys; from mlflow import MlflowClient; "
                  "r = MlflowClient().get_run(sys.argv[1]); print(r.info.status, "
                  "r.info.artifact_uri)", user | {"PYTHONWARNINGS": "ignore"}, run_id)
    assert seen.returncode == 0, seen.stderr
    status_, artifacts = seen.stdout.split()[-2:]
    assert status_ == "FINISHED" and artifacts.startswith("mlflow-artifacts:/")  # proxied

    anonymous = {k: v for k, v in user.items() if k not in ("MLFLOW_TRACKING_USERNAME",
                                                            "MLFLOW_TRACKING_PASSWORD")}
    doctor = subprocess.run([WORKBENCH, "doctor", "--json"], env=anonymous, text=True,
                            capture_output=True, cwd=tmp_path, timeout=300)
    assert doctor.returncode == 1
    [tracking] = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "tracking"]
    assert tracking["status"] == "fail" and "answered 401" in tracking["detail"]
    assert "MLFLOW_TRACKING_USERNAME" in tracking["fix"]
    assert first["env"]["MLFLOW_TRACKING_PASSWORD"] not in doctor.stdout


def test_a_killed_service_is_stale_and_up_restarts_it_with_its_data(
        stack: tuple[Path, Any]) -> None:
    home, first = stack
    env = {**cli_env(home), **first["env"]}
    made = python("from mlflow import MlflowClient; "
                  "print(MlflowClient().create_experiment('kept-across-restarts'))", env)
    assert made.returncode == 0, made.stderr
    os.killpg(pids(home)["mlflow"], signal.SIGKILL)
    wait_for(lambda: status(home)[1]["mlflow"]["state"] == "stale", timeout=30)
    code, rows = status(home)
    assert code == 1 and rows["mlflow"]["detail"].startswith("stale PID file: process ")
    assert rows["mlflow"]["fix"] == "workbench services up starts it again"
    doctor = subprocess.run([WORKBENCH, "doctor", "--json"], env=cli_env(home), text=True,
                            capture_output=True, timeout=300)
    assert any(f["check"] == "services:mlflow" and "stale PID file" in f["detail"]
               for f in json.loads(doctor.stdout)["findings"]), doctor.stdout

    again = services(home, "up", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["started"] == ["mlflow"]
    assert json.loads(again.stdout)["env"] == first["env"]  # same port, same login
    kept = python("from mlflow import MlflowClient; "
                  "print(MlflowClient().get_experiment_by_name('kept-across-restarts') "
                  "is not None)", env)
    assert kept.stdout.strip() == "True", kept.stderr


def test_a_dead_scheduler_and_a_worker_that_cannot_reach_it_are_named(
        stack: tuple[Path, Any]) -> None:
    home, first = stack
    os.killpg(pids(home)["scheduler"], signal.SIGKILL)
    wait_for(lambda: status(home)[1]["scheduler"]["state"] == "stale", timeout=30)
    code, rows = status(home)
    assert code == 1
    assert all(r["state"] != "ok" for r in rows.values() if r["service"] == "worker"), rows
    again = services(home, "up", "--json")
    assert again.returncode == 0, again.stderr
    assert "scheduler" in json.loads(again.stdout)["started"]
    assert json.loads(again.stdout)["env"] == first["env"]  # the same address
    assert status(home)[0] == 0

    # a worker pointed at the wrong address (say, started by hand) is named with its log
    state_file = home / "services" / "state.json"
    state = json.loads(state_file.read_text())
    name, log = f"workbench-{state['id']}-9", home / "services" / "logs" / "stray.log"
    nowhere = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    with log.open("w") as out:
        stray = subprocess.Popen([str(Path(sys.executable).with_name("dask")), "worker",
                                  nowhere, "--name", name, "--nthreads", "1", "--host",
                                  "127.0.0.1", "--dashboard-address", "127.0.0.1:0"],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        state["procs"]["workers"].append({"name": name, "pid": stray.pid, "log": str(log)})
        state_file.write_text(json.dumps(state))
        wait_for(lambda: status(home)[1][name]["state"] == "fail", timeout=60)
        row = status(home)[1][name]
        scheduler = first["env"]["WORKBENCH_SCHEDULER"]
        assert row["detail"].startswith(f"runs but is not connected to the scheduler at "
                                        f"{scheduler}"), row
        assert services(home, "up", "--workers", "2").returncode == 0  # the extra is stopped
        stray.wait(timeout=60)
        assert status(home)[0] == 0
    finally:
        if stray.poll() is None:
            os.killpg(stray.pid, signal.SIGKILL)


@contextmanager
def another_home() -> Iterator[Path]:
    """A second services folder (another team's), stopped and removed afterwards."""
    import shutil

    home = services_home()
    try:
        yield home
    finally:
        services(home, "down")
        shutil.rmtree(home.parent, ignore_errors=True)


def test_a_taken_port_and_a_refused_password_are_one_line_each(
        stack: tuple[Path, Any]) -> None:
    home, _ = stack
    with another_home() as other, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        done = services(other, "up", "--mlflow-port", str(taken))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr  # nothing started before the check
        assert (f"port {taken} for mlflow on 127.0.0.1 is taken by pid {os.getpid()}"
                in done.stderr)
        assert "--mlflow-port PORT" in done.stderr

    pg_port = json.loads((home / "services" / "state.json").read_text())["ports"]["postgres"]
    with another_home() as third:
        done = services(third, "up", "--postgres-uri",
                        f"postgresql://workbench:wrong@127.0.0.1:{pg_port}/postgres")
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr
        assert (f"PostgreSQL at 127.0.0.1:{pg_port} refused the password for user "
                "'workbench'" in done.stderr)
        assert "wrong" not in done.stderr  # the password is never shown
        state = third / "services" / "state.json"
        assert not state.exists() or not json.loads(state.read_text()).get("procs")


def test_down_stops_everything_and_leaves_no_process(stack: tuple[Path, Any]) -> None:
    home, _ = stack
    groups = list(pids(home).values())
    done = services(home, "down", "--json")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["stopped"]) >= {"postgres", "mlflow", "scheduler"}
    from workbench.services.procs import group_pids

    assert [p for g in groups for p in group_pids(g)] == []
    code, rows = status(home)
    assert code == 1 and {r["state"] for r in rows.values()} == {"stopped"}
    time.sleep(0.1)
