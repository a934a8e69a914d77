"""`workbench lab --scheduler`: a real JupyterLab server on 127.0.0.1 with the scheduler beside
it; both stop together."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

TOKEN = "wb-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status(port: int, token: str | None, path: str = "api/status") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/{path}")
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def scheduled_project(project: Path) -> Path:
    """A project whose pipeline `tick` has a missed slot (set 5 minutes ago, every minute):
    a scheduler starting now runs it once, and `ticked.txt` appears."""
    (project / "pipelines").mkdir(parents=True)
    (project / "steps.py").write_text(
        "import pathlib\ndef tick():\n    pathlib.Path('ticked.txt').write_text('yes')\n")
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)).isoformat()
    (project / "pipelines" / "tick.yaml").write_text(
        "name: tick\nsteps:\n- {name: tick, function: 'steps:tick'}\n"
        f"schedule: '* * * * *'\nschedule_since: '{since}'\n")
    return project


def service_env() -> dict[str, str]:
    """This environment, minus what would point a server child at another store or cluster."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER")}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_lab_serves_with_a_token_and_runs_the_missed_scheduled_slot(tmp_path: Path) -> None:
    project = scheduled_project(tmp_path / "project")
    port = free_port()
    env = service_env()
    env.update({"WORKBENCH_HOME": str(tmp_path / "wb"), "JUPYTER_TOKEN": TOKEN,
                "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
                "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")})
    exe = Path(sys.executable).with_name("workbench")
    as_root = ["--allow-root"] if os.geteuid() == 0 else []  # passed through to jupyter
    log = tmp_path / "lab.log"
    with log.open("w") as sink:
        server = subprocess.Popen([str(exe), "lab", "--scheduler", "--no-browser", "--port",
                                   str(port), *as_root], cwd=project, env=env,
                                  stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not (project / "ticked.txt").exists():
            assert server.poll() is None, log.read_text()
            time.sleep(1)
        assert (project / "ticked.txt").read_text() == "yes"  # the missed slot ran once
        while status(port, TOKEN) != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert status(port, TOKEN) == 200
        assert status(port, None) == 403  # no token, no access
        assert status(port, TOKEN, "workbench/api/whoami") == 200  # workbench-lab is loaded
        assert status(port, None, "workbench/api/whoami") == 403
        listening = {c.laddr.ip for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening and listening <= {"127.0.0.1", "::1"}, listening  # loopback only
        children = psutil.Process(server.pid).children(recursive=True)
        assert len(children) >= 2  # the Lab server and the scheduler
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM), code
    time.sleep(1)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="Jupyter refuses only root")
def test_lab_as_root_without_allow_root_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("workbench")
    env = {**service_env(), "WORKBENCH_HOME": str(tmp_path / "wb"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}
    done = subprocess.run([str(exe), "lab", "--no-browser", "--port", str(free_port())],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == ("error: JupyterLab refuses to run as root (as in many containers); "
                           "pass --allow-root if you mean it, or run as another user\n")
