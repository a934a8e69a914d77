"""The dask cluster of the services: a scheduler and worker processes (`dask worker`, or one
`dask cuda worker` that starts a worker per GPU), everything on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def scheduler_command(port: int, dashboard_port: int) -> list[str]:
    return [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
            "--dashboard-address", f"127.0.0.1:{dashboard_port}"]


def worker_command(address: str, name: str, memory_limit: str, gpus: bool) -> list[str]:
    if gpus:  # one process, one worker per visible GPU (dask-cuda's own choice of threads)
        return [DASK, "cuda", "worker", address, "--name", name, "--host", "127.0.0.1",
                "--memory-limit", memory_limit, "--dashboard-address", "127.0.0.1:0"]
    return [DASK, "worker", address, "--name", name, "--nthreads", "1", "--nworkers", "1",
            "--host", "127.0.0.1", "--memory-limit", memory_limit,
            "--dashboard-address", "127.0.0.1:0"]  # its HTTP routes: else on every interface


def use_gpus() -> bool:
    from importlib.util import find_spec

    from workbench.gpu import visible_gpus

    return bool(visible_gpus()) and find_spec("dask_cuda") is not None


def connected_workers(address: str, timeout_s: float = 5.0) -> list[str] | str:
    """Names of the workers the scheduler at `address` has; a diagnosis when it cannot be
    reached."""
    try:
        from distributed import Client

        with Client(address, timeout=f"{timeout_s}s", set_as_default=False) as client:
            info = client.scheduler_info(n_workers=-1)
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        return f"the dask scheduler at {address} does not answer ({text})"
    return sorted(str(w.get("name", "")) for w in info.get("workers", {}).values())
