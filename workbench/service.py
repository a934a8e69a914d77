"""The scheduler as a child service of another command (`workbench lab --scheduler`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType


@contextlib.contextmanager
def scheduler_process(root: Path, interval_s: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """`workbench scheduler` for `root/pipelines`, running while the block runs.

    A child process, not a thread: scheduled pipelines start their own dask client and
    MLflow runs, which must not share the host server's process. It is stopped with SIGTERM,
    which it treats as Ctrl-C (a run in progress is recorded as FAILED, never left RUNNING).
    """
    child = subprocess.Popen([sys.executable, "-m", "workbench.cli", "scheduler",
                              "--interval", str(interval_s)], cwd=root, env=project_env(root))
    try:
        yield child
    finally:
        stop(child)


def serve(command: Sequence[str], root: Path, *, with_scheduler: bool = False,
          say: Callable[[str], None] = print, env: Mapping[str, str] | None = None) -> int:
    """Run a server (`jupyter lab`, `panel serve`) until it exits or we are stopped, with the
    scheduler beside it when asked; returns the server's exit code. Nothing outlives it."""
    sigterm_as_interrupt()
    with contextlib.ExitStack() as services:
        if with_scheduler:
            child = services.enter_context(scheduler_process(root))
            say(f"scheduler: running for {root / 'pipelines'} (pid {child.pid})")
        server = subprocess.Popen(list(command), cwd=root,
                                  env={**project_env(root), **(env or {})})
        try:
            return server.wait()
        except KeyboardInterrupt:
            return stop(server)
        finally:
            stop(server)


def project_env(root: Path) -> dict[str, str]:
    """The environment of a service's children: pinned to this project and its store, so a
    kernel started in `notebooks/` still finds `pipelines/` and the same MLflow store."""
    from workbench.config import settings

    return {**os.environ, "WORKBENCH_PROJECT": str(root), "WORKBENCH_HOME": str(settings().home)}


def stop(child: subprocess.Popen[bytes], grace_s: float = 30.0) -> int:
    if child.poll() is None:
        child.terminate()
        try:
            return child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
    return child.wait()


def stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C or SIGTERM sets `stop`, which a service's loop notices between store calls: an
    exception raised mid-call could leave an SQLite read open, and the writes that end the
    running slots would then meet "database is locked". A second signal interrupts at once."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def sigterm_as_interrupt() -> None:
    """Let SIGTERM unwind like Ctrl-C, so `finally` blocks stop children and end runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
