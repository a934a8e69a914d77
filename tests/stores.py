"""Real tracking stores for tests of guarantees across processes: the embedded SQLite store and
an `mlflow server` process on loopback (a REST store), and separate client processes on them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def make_empty_store(folder: Path) -> Path:
    """A new embedded store, as MLflow creates it (every schema migration run), in `folder`.
    Made in a child process, so no engine of this one keeps the file open."""
    path = folder / "mlflow.db"
    subprocess.run([sys.executable, "-c", "import sys; from mlflow import MlflowClient; "
                    "MlflowClient(sys.argv[1]).search_experiments(max_results=1)",
                    f"sqlite:///{path}"], check=True, capture_output=True, cwd=folder)
    return path


def seed_store(empty: Path, home: Path) -> None:
    """`home`'s store as a copy of `empty`, its Default experiment's artifacts where workbench
    puts them when it creates a store in `home` (its artifact root)."""
    import sqlite3

    home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(empty) as source, sqlite3.connect(home / "mlflow.db") as target:
        source.backup(target)
        target.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                       (f"{(home / 'artifacts').as_uri()}/0",))
    source.close()
    target.close()


EMPTY_STORE: Path | None = None  # this session's new store (conftest makes it)


def seed_new_store(home: Path) -> None:
    """Seed `home` from the session's new store unless it has a store already."""
    if EMPTY_STORE is not None and not (home / "mlflow.db").exists():
        seed_store(EMPTY_STORE, home)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(root: Path, port: int | None = None, *, app: str | None = None,
                  env: Mapping[str, str] | None = None, workers: int = 2) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 over SQLite in `root`, artifacts proxied; yields its URI.
    `app`: an `--app-name` (basic-auth, workbench), with `env` the settings it reads."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "server.log").open("wb")
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    # no job runner: its seven huey consumer processes serve GenAI jobs workbench never sends
    child_env.update({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})})
    child = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", *(["--app-name", app] if app else []),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", (root / "artifacts").as_uri()],
        stdout=log, stderr=subprocess.STDOUT, env=child_env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(uri, child, root / "server.log")
        yield uri
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, 9)
            child.wait()
        log.close()


def _wait_healthy(uri: str, child: subprocess.Popen[bytes], log: Path,
                  timeout_s: float = 300.0) -> None:  # a loaded 2-core machine: ~2 min
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"mlflow server exited {child.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"mlflow server not healthy after {timeout_s}s:\n{log.read_text()}")


_LOGINS: dict[tuple[str, str], tuple[str, str]] = {}


def login_for(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """(login, password) of the person a test names, on the tracking server `env` selects:
    "ana" is the login `ana`, made with the admin's credentials the first time."""
    import re
    import secrets

    from workbench.services.mlflow_server import create_user

    login = re.sub(r"[^A-Za-z0-9._@-]+", "-", " ".join(name.split())) or "someone"
    key = (env["MLFLOW_TRACKING_URI"], login)
    if key not in _LOGINS:
        password = secrets.token_urlsafe(12)
        create_user(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_USERNAME"],
                    env["MLFLOW_TRACKING_PASSWORD"], login, password)
        _LOGINS[key] = (login, password)
    return _LOGINS[key]


@dataclass(frozen=True)
class Store:
    """A tracking store for one test: its kind, the environment that selects it, a scratch dir."""

    kind: str  # "embedded" | "services"
    env: Mapping[str, str]
    tmp: Path

    def unique(self, prefix: str = "m") -> str:
        """A name no other test uses (the services' store is shared by the whole session)."""
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def person_env(self, name: str, person: str) -> dict[str, str]:
        """`client_env(name)` signed in as `person`'s own login on the services' governing
        server (the embedded store has no logins)."""
        env = self.client_env(name)
        if self.kind == "services":
            login, password = login_for(self.env, person)
            env.update({"MLFLOW_TRACKING_USERNAME": login, "MLFLOW_TRACKING_PASSWORD": password})
        return env

    def client_env(self, name: str) -> dict[str, str]:
        """The environment of a client process with a `WORKBENCH_HOME` of its own: processes
        (hosts) share the tracking store, never a home."""
        home = self.tmp / f"home-{name}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_HOME")}
        return {**env, **self.env, "WORKBENCH_HOME": str(home),
                "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                               env.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def spawn(script: str, env: Mapping[str, str], cwd: Path | None = None,
          args: Sequence[str] = ()) -> subprocess.Popen[str]:
    """A separate Python process running `script` (dedented); stdout/stderr captured."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            env=dict(env), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], timeout_s: float = 180.0) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout_s)
    return process.returncode, out, err


def release(gate: Path) -> None:
    """Start processes waiting in `wait_for_gate(...)` at once, to make them race."""
    gate.write_text("go")


GATE_WAIT = """
import pathlib, sys, time
_gate = pathlib.Path(sys.argv[1])
while not _gate.exists():
    time.sleep(0.01)
"""
