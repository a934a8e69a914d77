"""The dask seam: one client per process, to a local cluster or WORKBENCH_SCHEDULER's."""

from __future__ import annotations

import atexit
import logging
import os
import threading
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
        else:
            _hide_main_from_workers()
            try:
                _local_cluster = _start_local(n_workers, memory_limit)
            except RuntimeError as exc:
                raise ConfigError(f"the local dask cluster did not start ({exc}); the "
                                  "distributed.nanny lines above say why") from None
            _client = Client(_local_cluster, set_as_default=False)
            # Import the heavy modules on the workers before any task arrives: the first run
            # would pay it anyway, and importing torch in two threads at once breaks it.
            _client.run(_import_heavy)
        return _client


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
    common: dict[str, Any] = {"dashboard_address": "127.0.0.1:0",
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
    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    return max(1, (os.cpu_count() or 1) // workers)


def shutdown() -> None:
    """Close the client and any local cluster this process started."""
    global _client, _local_cluster
    # Closing releases finished results and stops workers; dask warns about both at length.
    for name in ("distributed.scheduler", "distributed.nanny", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with _lock:
        if _client is not None:
            _client.close()
            _client = None
        if _local_cluster is not None:
            _local_cluster.close()
            _local_cluster = None


atexit.register(shutdown)
