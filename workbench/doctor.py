"""`workbench doctor`: what this machine has, and a one-line fix for each problem found."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from workbench.config import make_home, settings

PACKAGES = ("torch", "mlflow", "dask", "distributed", "pandas", "pydantic", "pyarrow")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(connect: bool = True) -> list[Finding]:
    return [
        _python(), *_packages(), *_gpus(), *_project(), _cluster(connect), _tracking(),
        _artifacts(), *_services(),
    ]


def _python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    return Finding("python", "ok", f"{version} at {sys.executable}")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _packages() -> list[Finding]:
    out = []
    for name in PACKAGES:
        version = _version(name)
        if version is None:
            out.append(Finding(name, "fail", "not installed", f"pip install {name} "
                               "-c constraints.txt (or `make setup`)"))
        else:
            out.append(Finding(name, "ok", version))
    pandas = _version("pandas")
    if pandas and int(pandas.split(".")[0]) >= 3:
        out.append(Finding("pandas<3", "fail", f"pandas {pandas}: Evidently 0.7 cannot import it",
                           "pip install 'pandas<3'"))
    return out


def _gpus() -> list[Finding]:
    from workbench.gpu import visible_gpus

    gpus = visible_gpus()
    if not gpus:
        return [Finding("gpus", "ok", "none visible: training runs on CPU workers")]
    out = [Finding("gpus", "ok", f"{len(gpus)}: {', '.join(gpus)}")]
    if _version("dask-cuda") is None:
        out.append(Finding("dask-cuda", "fail", "GPUs are visible but dask-cuda is missing",
                           "pip install 'workbench[gpu]' or use environment.yml"))
    torch_version = _version("torch") or ""
    if "+cpu" in torch_version:
        out.append(Finding("torch-cuda", "fail", f"torch {torch_version} is a CPU build",
                           "install the CUDA build of torch (conda env create -f environment.yml)"))
    return out


def _project() -> list[Finding]:
    """The project folder found from here, and why: every command, kernel and worker uses it
    and its store."""
    from workbench.project import HOME_DIR, find_project

    project = find_project()  # a bad WORKBENCH_PROJECT already failed the command in one line
    out = [Finding("project", "ok", f"{project.root} ({project.reason})")]
    if project.reason == f"holds {HOME_DIR}/" and not (project.root / ".git").exists():
        outer = find_project(project.root.parent)
        if outer.reason.startswith("holds"):  # a stray store in a subfolder of a real project
            out.append(Finding(
                "project", "warn", f"{project.root / HOME_DIR} makes {project.root} a project "
                f"inside {outer.root} ({outer.reason})",
                f"if an older workbench made it when run from this folder, remove "
                f"{project.root / HOME_DIR}"))
    return out


def _cluster(connect: bool) -> Finding:
    address = settings().scheduler
    if not address:
        cores = os.cpu_count() or 1
        return Finding("cluster", "ok", f"local dask cluster, started on first use "
                       f"({min(cores, 8)} workers x 1 thread)")
    if not connect:
        return Finding("cluster", "ok", f"WORKBENCH_SCHEDULER={address} (not contacted)")
    try:
        from distributed import Client

        with Client(address, timeout="5s", set_as_default=False) as client:
            from workbench.dask_cluster import live_workers

            workers = len(live_workers(client))
        if not workers:
            return Finding("cluster", "warn", f"{address}: the scheduler has no workers, so "
                           "work would wait forever", "start workers (`dask worker "
                           f"{address}`, or `workbench services up`), or check their logs")
        return Finding("cluster", "ok", f"{address}: {workers} workers")
    except Exception as exc:
        return Finding("cluster", "fail", f"cannot reach {address}: {exc}",
                       "start the scheduler, or unset WORKBENCH_SCHEDULER for a local cluster")


def _tracking() -> Finding:
    from workbench.errors import UnreachableError
    from workbench.tracking.store import display_uri, tracking_client

    uri = settings().tracking_uri
    try:
        client = tracking_client(uri)
        client.search_experiments(max_results=1)
    except UnreachableError as exc:
        return Finding("tracking", "fail", str(exc).split(";")[0],
                       "start the server, or unset MLFLOW_TRACKING_URI for the embedded store")
    except Exception as exc:
        code = next((c for c in ("401", "403") if f"error code {c}" in str(exc)), None)
        if code:
            from workbench.services.mlflow_server import unauthorized

            problem, fix = unauthorized(display_uri(uri), int(code)).split("; ", 1)
            return Finding("tracking", "fail", problem, fix)
        return Finding("tracking", "fail",
                       f"{display_uri(uri)}: {type(exc).__name__}: {exc}"[:300],
                       "check MLFLOW_TRACKING_URI, or WORKBENCH_HOME's permissions")
    kind = "embedded SQLite" if uri.startswith("sqlite:") else "tracking server"
    return Finding("tracking", "ok", f"{kind} at {display_uri(uri)}")


def _artifacts() -> Finding:
    root = settings().artifact_root
    if root is None:
        return Finding("artifacts", "ok", "chosen by the tracking server")
    parsed = urlparse(root)
    if parsed.scheme not in ("file", ""):
        return Finding("artifacts", "ok", root)
    path = Path(parsed.path)
    try:
        home = settings().home
        if path.is_relative_to(home):
            make_home(home)
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".workbench-write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Finding("artifacts", "fail", f"{path} is not writable ({exc.strerror})",
                       "set WORKBENCH_HOME or WORKBENCH_ARTIFACT_ROOT to a writable place")
    return Finding("artifacts", "ok", str(path))


def _services() -> list[Finding]:
    """The services started from this home (`workbench services up`), if any: each one that
    is not well, with its fix."""
    if not (settings().home / "services" / "state.json").exists():
        return []
    from workbench.services import status

    try:
        rows = status()
    except Exception as exc:
        return [Finding("services", "fail", f"{type(exc).__name__}: {exc}"[:300],
                        "workbench services status")]
    bad = [r for r in rows if r["state"] != "ok"]
    if not bad:
        return [Finding("services", "ok", f"{len(rows)} running (workbench services status)")]
    if all(r["state"] == "stopped" for r in rows):
        return [Finding("services", "ok", "stopped (workbench services up starts them)")]
    return [Finding(f"services:{r['service']}", "fail", f"{r['address']}: {r['detail']}",
                    r["fix"]) for r in bad]
