"""Bring the services up, down, and tell how they are. One ordered stack (PostgreSQL, the
tracking server, the dask scheduler, its workers); what runs where in
`$WORKBENCH_HOME/services/state.json`, the secrets in `credentials.json` (mode 0600). `up` keeps
what already runs and starts what does not, so running it twice changes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.services import dask_procs, mlflow_server, postgres, procs

START_WAIT_S = 300.0  # a loaded 2-core machine: MLflow's first migrations take a minute or two
PORT_OPTIONS = {"postgres": "--postgres-port", "mlflow": "--mlflow-port",
                "scheduler": "--scheduler-port", "dashboard": "--dashboard-port"}


class ServiceError(WorkbenchError):
    """A service could not be started, or answers wrongly."""


@dataclass(frozen=True)
class Layout:
    root: Path  # $WORKBENCH_HOME/services

    state = property(lambda self: self.root / "state.json")
    credentials = property(lambda self: self.root / "credentials.json")
    data = property(lambda self: self.root / "postgres")
    artifacts = property(lambda self: self.root / "artifacts")
    auth_ini = property(lambda self: self.root / "basic_auth.ini")

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def layout() -> Layout:
    from workbench.config import make_home, settings

    home = settings().home
    make_home(home)
    root = home / "services"
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o755)  # PostgreSQL runs as its own user when we are root: it must enter
    return Layout(root)


# --- state -----------------------------------------------------------------------------------

def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ServiceError(f"{path} cannot be read ({exc}); remove it after "
                           "`workbench services down`") from None


def _write(path: Path, data: Mapping[str, Any], private: bool = False) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.touch(mode=0o600 if private else 0o644)
    partial.write_text(json.dumps(data, indent=2, sort_keys=True))
    partial.replace(path)


def _credentials(lay: Layout) -> dict[str, str]:
    """The generated secrets, made once and kept (the data they protect is kept too)."""
    creds = _read(lay.credentials)
    fresh = {"postgres_password": secrets.token_urlsafe(18),
             "mlflow_user": mlflow_server.ADMIN, "mlflow_password": secrets.token_urlsafe(18),
             "secret_key": secrets.token_hex(24), "history_key": secrets.token_hex(32)}
    if not all(k in creds for k in fresh):
        creds = {**fresh, **creds}
        _write(lay.credentials, creds, private=True)
    os.chmod(lay.credentials, 0o600)
    return creds


@contextlib.contextmanager
def _locked(lay: Layout) -> Iterator[None]:
    """One `up` or `down` at a time on a services folder."""
    import fcntl

    with (lay.root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- what each service is --------------------------------------------------------------------

def _marks(service: str, record: Mapping[str, Any], lay: Layout) -> list[str]:
    """What a service's command line holds: proof that a recorded PID is still that service."""
    if service == "postgres":
        return ["postgres", str(lay.data)]
    if service == "worker":
        return ["worker", f"--name {record['name']} "]  # the space: -1 is not -10
    return {"mlflow": ["mlflow", "server"], "scheduler": ["scheduler"]}[service] + [
        f"--port {record['port']} "]


def _addresses(state: Mapping[str, Any]) -> dict[str, str]:
    ports = state.get("ports", {})
    return {"mlflow": f"http://127.0.0.1:{ports.get('mlflow')}",
            "scheduler": f"tcp://127.0.0.1:{ports.get('scheduler')}",
            "dashboard": f"http://127.0.0.1:{ports.get('dashboard')}/status"}


def environment(lay: Layout | None = None) -> dict[str, str]:
    """What a workbench process needs to use the services (the tracking server's admin login
    included: keep it as private as credentials.json)."""
    lay = lay or layout()
    state, creds = _read(lay.state), _read(lay.credentials)
    if not state.get("ports"):
        raise ServiceError("the services were never started here: `workbench services up`")
    where = _addresses(state)
    return {"MLFLOW_TRACKING_URI": where["mlflow"],
            "MLFLOW_TRACKING_USERNAME": creds.get("mlflow_user", mlflow_server.ADMIN),
            "MLFLOW_TRACKING_PASSWORD": creds.get("mlflow_password", ""),
            "WORKBENCH_SCHEDULER": where["scheduler"]}


def _postgres_base(state: Mapping[str, Any], creds: Mapping[str, str]) -> tuple[str, str]:
    """(URI of the PostgreSQL server without a password, its password)."""
    external = creds.get("postgres_uri")
    if external:
        from urllib.parse import unquote, urlsplit

        return postgres.without_password(external), unquote(urlsplit(external).password or "")
    return postgres.local_uri(state["ports"]["postgres"]), creds["postgres_password"]


# --- up --------------------------------------------------------------------------------------

def up(*, workers: int = 2, postgres_uri: str | None = None,
       ports: Mapping[str, int | None] | None = None, data_roots: Sequence[str] = (),
       say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Start what is not running; {"env", "services", "started"}. `data_roots`: the folders
    whose files the tracking server may read for data gates (default: the project root)."""
    if workers < 1:
        raise ServiceError(f"--workers {workers}: give at least 1 worker")
    lay = layout()
    with _locked(lay):
        state = _read(lay.state)
        if data_roots or "data_roots" not in state:
            from workbench.config import project_root

            state["data_roots"] = [str(Path(r).resolve()) for r in data_roots] or \
                [str(project_root())]
        creds = _credentials(lay)
        if postgres_uri:
            creds["postgres_uri"] = postgres_uri
            _write(lay.credentials, creds, private=True)
        state.setdefault("procs", {})
        chosen = state.setdefault("ports", {})
        for name in PORT_OPTIONS:
            wanted = (ports or {}).get(name)
            if wanted and chosen.get(name) != wanted:
                if _running(state, name, lay):
                    raise ServiceError(f"{name} already runs on port {chosen[name]}; "
                                       "`workbench services down` first to move it")
                chosen[name] = wanted
            chosen.setdefault(name, procs.free_port())
        _write(lay.state, state)
        for name in ("postgres", "mlflow", "scheduler"):  # before anything starts
            if name == "postgres" and creds.get("postgres_uri"):
                continue
            if not _running(state, name, lay):
                _claim_port(chosen[name], name)
                if name == "scheduler":
                    _claim_port(chosen["dashboard"], "dashboard")
        started: list[str] = []
        steps = [("postgres", _up_postgres), ("mlflow", _up_mlflow),
                 ("scheduler", _up_scheduler)]
        for name, step in steps:
            if name == "postgres" and creds.get("postgres_uri"):
                _up_external_postgres(creds)
                continue
            if not _running(state, name, lay):
                say(f"starting {name} ...")
                step(lay, state, creds)
                started.append(name)
                _write(lay.state, state)
        started += _up_workers(lay, state, creds, workers, say)
        _write(lay.state, state)
    return {"env": environment(lay), "started": started, "services": status(lay),
            "folder": str(lay.root)}


def _running(state: Mapping[str, Any], name: str, lay: Layout) -> bool:
    record = state.get("procs", {}).get(name)
    return bool(record) and procs.alive(record.get("pid"), _marks(name, record, lay))


def _claim_port(port: int, service: str) -> None:
    if not procs.port_free(port):
        owner = procs.port_owner(port) or "another program"
        raise ServiceError(f"port {port} for {service} on 127.0.0.1 is taken by {owner}: stop "
                           f"it, or pick another with `workbench services up "
                           f"{PORT_OPTIONS[service]} PORT`")


def _started(lay: Layout, name: str, pid: int, record: dict[str, Any],
             ready: Callable[[], str | None], state: dict[str, Any]) -> None:
    """Record `pid` as `name`, then wait until `ready()` says nothing is wrong; if the process
    dies first, its log's last line is the error."""
    record = {**record, "pid": pid, "log": str(lay.log(name))}
    state["procs"][name] = record
    _write(lay.state, state)
    deadline = time.monotonic() + START_WAIT_S
    problem = ready()
    while problem is not None:
        if not procs.alive(pid, _marks(name, record, lay)):
            raise ServiceError(f"{name} exited at start: {procs.log_tail(lay.log(name))} "
                               f"(log: {lay.log(name)})")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} not ready after {START_WAIT_S:.0f}s: {problem} "
                               f"(log: {lay.log(name)})")
        time.sleep(0.3)
        problem = ready()


def _up_postgres(lay: Layout, state: dict[str, Any], creds: dict[str, str]) -> None:
    port = state["ports"]["postgres"]
    user = postgres.run_as()
    if not (lay.data / "PG_VERSION").exists():
        postgres.initialise(lay.data, creds["postgres_password"], user)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pid = procs.start(postgres.command(lay.data, port), lay.log("postgres"), env, lay.root,
                      user=user)
    uri = postgres.local_uri(port)
    password = creds["postgres_password"]
    _started(lay, "postgres", pid, {"port": port},
             lambda: postgres.check(uri, password), state)
    postgres.ensure_databases(uri, password)


def _up_external_postgres(creds: Mapping[str, str]) -> None:
    uri = creds["postgres_uri"]
    problem = postgres.check(postgres.with_database(uri, "postgres"))
    if problem:
        raise ServiceError(problem)
    postgres.ensure_databases(uri)


def _up_mlflow(lay: Layout, state: dict[str, Any], creds: dict[str, str]) -> None:
    port = state["ports"]["mlflow"]
    base, password = _postgres_base(state, creds)
    auth = mlflow_server.auth_config(lay.auth_ini, postgres.with_database(base, "mlflow_auth"),
                                     creds["mlflow_password"])
    env = mlflow_server.environment(postgres.with_database(base, "mlflow"), password, auth,
                                    creds["secret_key"], creds["history_key"],
                                    os.pathsep.join(state.get("data_roots", [])))
    lay.artifacts.mkdir(exist_ok=True)
    pid = procs.start(mlflow_server.command(port, lay.artifacts.as_uri()), lay.log("mlflow"),
                      env, lay.root)
    uri = f"http://127.0.0.1:{port}"
    _started(lay, "mlflow", pid, {"port": port},
             lambda: mlflow_server.probe(uri, creds["mlflow_user"], creds["mlflow_password"]),
             state)


def _up_scheduler(lay: Layout, state: dict[str, Any], creds: dict[str, str]) -> None:
    port, dashboard = state["ports"]["scheduler"], state["ports"]["dashboard"]
    pid = procs.start(dask_procs.scheduler_command(port, dashboard), lay.log("scheduler"),
                      _client_env(lay), lay.root)
    address = f"tcp://127.0.0.1:{port}"

    def ready() -> str | None:
        found = dask_procs.connected_workers(address, timeout_s=2)
        return found if isinstance(found, str) else None

    _started(lay, "scheduler", pid, {"port": port, "dashboard_port": dashboard}, ready, state)


def _client_env(lay: Layout) -> dict[str, str]:
    """A workbench process's environment on the services (the workers': their tasks log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    return {**env, **environment(lay)}


def _up_workers(lay: Layout, state: dict[str, Any], creds: Mapping[str, str], count: int,
                say: Callable[[str], None]) -> list[str]:
    import psutil

    stack_id = state.setdefault("id", secrets.token_hex(3))
    address = _addresses(state)["scheduler"]
    gpus = dask_procs.use_gpus()
    wanted = 1 if gpus else count  # dask-cuda: one process starts a worker per GPU
    memory = f"{max(1, psutil.virtual_memory().total // wanted // 2**20)}MiB"
    records = [r for r in state.get("procs", {}).get("workers", [])
               if procs.alive(r.get("pid"), _marks("worker", r, lay))]
    for extra in records[wanted:]:
        procs.stop(extra["pid"], _marks("worker", extra, lay))
    records = records[:wanted]
    names = {r["name"] for r in records}
    started = []
    folder = lay.root / "workers"  # their working folder: nothing of a project's lands there
    folder.mkdir(exist_ok=True)
    for i in range(wanted):
        name = f"workbench-{stack_id}-{i}"
        if name in names:
            continue
        say(f"starting worker {name} ...")
        log = lay.log(name)
        pid = procs.start(dask_procs.worker_command(address, name, memory, gpus), log,
                          _client_env(lay), folder)
        records.append({"name": name, "pid": pid, "log": str(log)})
        started.append(name)
    state["procs"]["workers"] = sorted(records, key=lambda r: r["name"])
    _write(lay.state, state)
    if started:
        _wait_for_workers(lay, state, address)
    return started


def _wait_for_workers(lay: Layout, state: Mapping[str, Any], address: str) -> None:
    deadline = time.monotonic() + START_WAIT_S
    while True:
        found = dask_procs.connected_workers(address)
        missing = [r for r in state["procs"]["workers"] if not _joined(r["name"], found)]
        if not missing:
            return
        for record in missing:
            if not procs.alive(record["pid"], _marks("worker", record, lay)):
                raise ServiceError(f"worker {record['name']} exited at start: "
                                   f"{procs.log_tail(Path(record['log']))} (log: "
                                   f"{record['log']})")
        if time.monotonic() > deadline:
            raise ServiceError(f"worker {missing[0]['name']} did not join the scheduler at "
                               f"{address} within {START_WAIT_S:.0f}s (log: "
                               f"{missing[0]['log']})")
        time.sleep(0.5)


def _joined(name: str, found: list[str] | str) -> bool:
    """Is worker `name` among the scheduler's (dask-cuda names its workers `name-<gpu>`)?"""
    return not isinstance(found, str) and any(n == name or n.startswith(name + "-")
                                              for n in found)


# --- down ------------------------------------------------------------------------------------

def down() -> dict[str, Any]:
    """Stop every service (workers first, PostgreSQL last); data and secrets are kept."""
    lay = layout()
    stopped = []
    with _locked(lay):
        state = _read(lay.state)
        table = state.get("procs", {})
        for record in table.get("workers", []):
            procs.stop(record["pid"], _marks("worker", record, lay))
            stopped.append(record["name"])
        for name, sig in (("scheduler", signal.SIGTERM), ("mlflow", signal.SIGTERM),
                          ("postgres", signal.SIGINT)):  # SIGINT: PostgreSQL's fast shutdown
            record = table.get(name)
            if record:
                procs.stop(record["pid"], _marks(name, record, lay), sig=sig)
                stopped.append(name)
        state["procs"] = {}
        if state:
            _write(lay.state, state)
    return {"stopped": stopped, "folder": str(lay.root)}


# --- status ----------------------------------------------------------------------------------

def status(lay: Layout | None = None) -> list[dict[str, Any]]:
    """Each service: {service, state (ok/stopped/stale/fail), pid, address, detail, fix}."""
    lay = lay or layout()
    state, creds = _read(lay.state), _read(lay.credentials)
    table = state.get("procs", {})
    if not state.get("ports"):
        return [_row("services", "stopped", "never started here",
                     fix="workbench services up")]
    where = _addresses(state)
    rows = []
    if creds.get("postgres_uri"):
        problem = postgres.check(postgres.with_database(creds["postgres_uri"], "postgres"))
        rows.append(_row("postgres", "fail" if problem else "ok", problem or "your server",
                         address=postgres.without_password(creds["postgres_uri"])))
    else:
        base, password = _postgres_base(state, creds)
        rows.append(_proc_row(lay, "postgres", table.get("postgres"),
                              lambda: postgres.check(base, password),
                              f"127.0.0.1:{state['ports']['postgres']}"))
    rows.append(_proc_row(lay, "mlflow", table.get("mlflow"), lambda: mlflow_server.probe(
        where["mlflow"], creds.get("mlflow_user", ""), creds.get("mlflow_password", "")),
        where["mlflow"]))
    found = dask_procs.connected_workers(where["scheduler"])
    rows.append(_proc_row(lay, "scheduler", table.get("scheduler"),
                          lambda: found if isinstance(found, str) else None,
                          where["scheduler"], extra=f"dashboard {where['dashboard']}"))
    for record in table.get("workers", []):
        def joined(name: str = record["name"], log: str = record["log"]) -> str | None:
            if isinstance(found, str):
                return f"cannot ask the scheduler: {found}"
            if _joined(name, found):
                return None
            return (f"runs but is not connected to the scheduler at {where['scheduler']} "
                    f"(its log: {procs.log_tail(Path(log))})")
        rows.append(_proc_row(lay, "worker", record, joined, record["name"]))
    return rows


def _proc_row(lay: Layout, name: str, record: Mapping[str, Any] | None,
              check: Callable[[], str | None], address: str, extra: str = "") -> dict[str, Any]:
    if not record:
        return _row(name, "stopped", "not running", address=address,
                    fix="workbench services up")
    pid = record.get("pid")
    if not procs.alive(pid, _marks(name, record, lay)):
        return _row(name, "stale", f"stale PID file: process {pid} is gone", pid=pid,
                    address=address, fix="workbench services up starts it again")
    problem = check()
    if problem:
        fix = "see " + str(record.get("log", lay.log(name)))
        return _row(name, "fail", problem, pid=pid, address=address, fix=fix)
    return _row(name, "ok", " ".join(filter(None, ["running", extra])), pid=pid,
                address=address)


def _row(service: str, state: str, detail: str, *, pid: int | None = None, address: str = "",
         fix: str = "") -> dict[str, Any]:
    return {"service": service, "state": state, "pid": pid, "address": address,
            "detail": detail, "fix": fix}


# --- users -----------------------------------------------------------------------------------

def add_user(name: str) -> dict[str, str]:
    """A tracking-server login for one person of the team, with a generated password: its
    environment (approvals record who was logged in, so four eyes need two logins)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", name):
        raise ServiceError(f"user name {name!r}: use letters, digits and . _ @ - (at most 64)")
    lay = layout()
    state, creds = _read(lay.state), _read(lay.credentials)
    if not _running(state, "mlflow", lay):
        raise ServiceError("the tracking server is not running: `workbench services up` first")
    password = secrets.token_urlsafe(18)
    mlflow_server.create_user(_addresses(state)["mlflow"], creds["mlflow_user"],
                              creds["mlflow_password"], name, password)
    return {**environment(lay), "MLFLOW_TRACKING_USERNAME": name,
            "MLFLOW_TRACKING_PASSWORD": password}
