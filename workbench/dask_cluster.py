"""The dask seam: one client per process, to a local cluster or WORKBENCH_SCHEDULER's."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import settings
from workbench.errors import ConfigError, UnreachableError

if TYPE_CHECKING:
    from distributed import Client

_lock = threading.Lock()
_client: Client | None = None
_local_cluster: Any = None
_address: str | None = None  # what _client was made for: a scheduler address, or None for local
_worker_log_level = logging.WARNING
_path_root: Path | None = None  # the project the local workers have on sys.path
DASHBOARD = "127.0.0.1:8787"  # dask's usual port, where a dask user looks first
PROJECT_PATH_PLUGIN = "workbench-project-path"


def cluster(*, n_workers: int | None = None, memory_limit: str | None = None) -> Client:
    """The process's dask client, started on first use and reused after (idempotent).

    WORKBENCH_SCHEDULER=tcp://host:8786 connects to an existing cluster; otherwise a
    LocalCUDACluster (one worker per GPU) when CUDA GPUs are visible, else a LocalCluster with
    one single-threaded worker process per core (PyTorch does its own threading).
    """
    global _client, _local_cluster, _address
    address = settings().scheduler
    with _lock:
        if _client is not None and _client.status == "running" and _address == address:
            if _local_cluster is not None:
                _project_on_workers(_client)  # a notebook may have moved to another project
            return _client
    shutdown()  # the environment now names another cluster
    with _lock:
        from distributed import Client

        _address = address
        if address:
            try:
                _client = Client(address, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise UnreachableError(
                    f"cannot reach the dask scheduler at {address} ({exc}); start it, or unset "
                    "WORKBENCH_SCHEDULER to use a local cluster") from None
            link = _dashboard_link(_client)
            if link:  # someone else's cluster: only where to watch it
                _say(f"dask dashboard: {link}")
        else:
            _say("starting a local dask cluster (about 20 s)...")
            started = time.monotonic()
            _hide_main_from_workers()
            try:
                _local_cluster = _start_local(n_workers, memory_limit)
            except RuntimeError as exc:
                raise ConfigError(f"the local dask cluster did not start ({exc}); the "
                                  "distributed.nanny lines above say why") from None
            _client = Client(_local_cluster, set_as_default=False)
            _project_on_workers(_client)
            # Import the heavy modules on the workers before any task arrives: the first run
            # would pay it anyway, and importing torch in two threads at once breaks it.
            _client.run(_import_heavy)
            _say(f"local dask cluster ready in {time.monotonic() - started:.0f} s: "
                 f"{_describe_workers(_client)}; dashboard {_dashboard_link(_client) or 'off'}")
        return _client


def _say(line: str) -> None:
    """Progress of the cluster's first minute, as information: stderr from a command (its
    `--json` stdout stays pure), stdout in a notebook's kernel (Jupyter paints stderr red, as
    if it were an error)."""
    print(f"workbench: {line}", file=sys.stdout if _in_kernel() else sys.stderr, flush=True)


def _in_kernel() -> bool:
    """Inside a Jupyter (IPython) kernel, where stdout is the cell's output."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    found = get() if callable(get) else None
    return found is not None and type(found).__name__ == "ZMQInteractiveShell"


def _dashboard_link(client: Client) -> str | None:
    try:
        return str(client.dashboard_link) or None
    except (KeyError, AttributeError):  # the scheduler serves no dashboard (no bokeh)
        return None


def live_workers(client: Client) -> dict[str, dict[str, Any]]:
    """The scheduler's workers now, by address.

    Not `client.scheduler_info()`: that returns the client's cached identity, which its
    periodic refresh overwrites every few seconds with one that lists no workers; a reader
    racing that refresh sees an empty cluster (a DDP rank "died" that was alive).
    """
    if client.scheduler is None:  # a closed client
        return {}
    identity = client.sync(client.scheduler.identity, n_workers=-1)
    return dict(identity["workers"])


def cluster_status() -> dict[str, Any]:
    """The cluster this process uses, without starting one: `state` ("running", or "none"
    before the first work starts a local one), the scheduler, the dask dashboard link and
    per worker its threads, CPU %, memory, tasks by state and, with NVML, GPU use and memory."""
    address = settings().scheduler
    with _lock:
        client = _client if _client is not None and _client.status == "running" else None
    if client is None and address:
        client = cluster()  # a named scheduler: connecting starts nothing
    if client is None:
        return {"state": "none", "scheduler": None, "dashboard": None, "workers": []}
    workers = []
    for worker_address, info in sorted(live_workers(client).items()):
        metrics = info.get("metrics", {})
        gpu = metrics.get("gpu") or {}
        workers.append({
            "address": worker_address, "name": str(info.get("name", "")),
            "nthreads": int(info.get("nthreads", 1)), "cpu": float(metrics.get("cpu", 0.0)),
            "memory": int(metrics.get("memory", 0)),
            "memory_limit": int(info.get("memory_limit") or 0),
            "tasks": dict(metrics.get("task_counts") or {}),
            "gpu_utilization": gpu.get("utilization"), "gpu_memory": gpu.get("memory-used"),
            "gpu_memory_total": (info.get("gpu") or {}).get("memory-total")})
    return {"state": "running", "scheduler": str(getattr(client.scheduler, "address", "")),
            "dashboard": _dashboard_link(client), "workers": workers}


def _describe_workers(client: Client) -> str:
    workers = live_workers(client).values()
    threads = sorted({int(w.get("nthreads", 1)) for w in workers})
    memory = sum(int(w.get("memory_limit") or 0) for w in workers)
    each = "mixed threads" if len(threads) != 1 else \
        f"{threads[0]} thread{'' if threads[0] == 1 else 's'}"
    size = f", {memory / 2**30:.1f} GiB" if memory else ""
    return f"{len(workers)} workers x {each}{size}"


def _project_on_workers(client: Client) -> None:
    """Local workers import the project's modules as the client does (`"bike_model:fit"`, a
    module imported inside a train function): the root goes first on their sys.path, through a
    plugin so workers the nanny restarts get it too. Re-registered only when the root moves."""
    global _path_root
    from workbench.project import find_project

    root = find_project().root
    if root == _path_root:
        return
    client.register_plugin(project_path_plugin(root), name=PROJECT_PATH_PLUGIN)
    _path_root = root


def project_path_plugin(root: Path) -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class ProjectPath(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            from workbench.project import on_import_path

            on_import_path(root)

    return ProjectPath()


_WORKER_PROCESS = "Dask Worker process"  # the name distributed's nanny gives its children


def _hide_main_from_workers() -> None:
    """Spawned dask workers start without re-running the caller's `__main__`.

    multiprocessing's spawn re-runs the parent's main script (or `-m` module) in each child so
    that pickled references to `__main__` resolve. A dask worker never needs that (cloudpickle
    ships `__main__` functions by value), and re-running an unguarded script, or a `<stdin>`
    path that does not exist, kills the worker. Only processes named as distributed's nanny
    names its workers are affected, so the user's own multiprocessing keeps its behaviour, and
    workers the nanny restarts later (after a crash) start clean too.
    """
    import multiprocessing.spawn as spawn

    original = spawn.get_preparation_data
    if getattr(original, "_workbench", False):
        return

    def preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        if str(name).startswith(_WORKER_PROCESS):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data._workbench = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = preparation_data


def _start_local(n_workers: int | None, memory_limit: str | None) -> Any:
    import multiprocessing

    from workbench.gpu import visible_gpus

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A child of the user's own multiprocessing re-imports their script while it starts;
        # unguarded top-level code would start clusters recursively.
        raise ConfigError("wb.cluster() ran while a multiprocessing child was starting: put the "
                          "script's top-level code under `if __name__ == \"__main__\":`")

    logging.getLogger("distributed").setLevel(_worker_log_level)
    # dask moves the dashboard to a free port when 8787 is taken (another cluster); the link
    # printed once it is up is the real one, so its warning adds nothing.
    warnings.filterwarnings("ignore", message="Port 8787 is already in use")
    common: dict[str, Any] = {"dashboard_address": DASHBOARD,
                              "silence_logs": _worker_log_level}
    if memory_limit:
        common["memory_limit"] = memory_limit
    if visible_gpus():
        from dask_cuda import LocalCUDACluster

        return LocalCUDACluster(ip="127.0.0.1", threads_per_worker=1, **common)
    from distributed import LocalCluster

    workers = n_workers or max(1, min(os.cpu_count() or 1, 8))
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", **common)


def _import_heavy() -> None:
    import mlflow.pytorch  # noqa: F401
    import torch.export  # noqa: F401

    import workbench.training.runner  # noqa: F401


def quiet_workers() -> None:
    """Local clusters started from now on log only CRITICAL lines (the CLI reports errors)."""
    global _worker_log_level
    _worker_log_level = logging.CRITICAL
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def torch_threads_hint(client: Client) -> int | None:
    """Threads PyTorch may use per worker on a local cluster, so workers do not oversubscribe."""
    if _local_cluster is None or client is not _client:
        return None
    workers = max(1, len(live_workers(client)))
    return max(1, (os.cpu_count() or 1) // workers)


def shutdown() -> None:
    """Close the client and any local cluster this process started."""
    global _client, _local_cluster, _path_root
    _path_root = None
    # Closing releases finished results and stops workers; dask warns about both at length.
    for name in ("distributed.scheduler", "distributed.nanny", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with _lock:
        # Bounded: once the workers are gone, an unbounded close can wait forever at exit.
        if _client is not None:
            with contextlib.suppress(Exception):
                _client.close(timeout=_CLOSE_TIMEOUT_S)
            _client = None
        if _local_cluster is not None:
            with contextlib.suppress(Exception):
                _local_cluster.close(timeout=_CLOSE_TIMEOUT_S)
            _local_cluster = None


_CLOSE_TIMEOUT_S = 20


atexit.register(shutdown)
