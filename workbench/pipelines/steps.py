"""One pipeline step on a dask worker: run it, keep what it produced, record it in MLflow.

Notebook steps run under papermill (marimo notebooks under `marimo export html`); the executed
notebook is the step run's artifact even when a cell fails, so the partial outputs are kept.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class StepTask:
    """Everything a worker needs to run one step. Picklable."""

    pipeline: str
    step: str
    run_id: str  # the step's nested MLflow run, created by the client
    tracking_uri: str
    root: str  # project root; notebook paths are relative to it
    notebook: str | None
    function: str | None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    pipeline_run_id: str = ""  # the parent run: training runs started by the step are tagged
    events: str | None = None  # dask event topic the client listens on for "running"
    settings_env: dict[str, str] = field(default_factory=dict)  # the caller's store, for kernels
    slots: str | None = None  # dask Semaphore bounding this run's concurrent notebook steps
    max_slots: int = 1


class StepFailed(Exception):
    """A step failed; the message says where (the cell) and what (the error)."""


def run_step(task: StepTask, *upstream: Any) -> dict[str, Any]:
    """Run the step after its upstream steps (their results are only an ordering device)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client(task.tracking_uri)  # cached per worker: one store per process
    started = time.time()
    status = "FAILED"
    error: BaseException | None = None
    outputs: dict[str, Any] = {}
    try:
        if task.notebook is not None:
            with _seceded(task.slots, task.max_slots):
                _announce(task)  # running now, not waiting for a slot
                _run_notebook(task, client)
        else:
            _announce(task)
            outputs = _run_function(task, client)
        status = "FINISHED"
        return {"step": task.step, "run_id": task.run_id, "seconds": time.time() - started,
                "outputs": outputs}
    except StepFailed as exc:
        error = exc
        raise
    except Exception as exc:
        error = exc
        raise StepFailed(f"step {task.step} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if error is not None:
            _record_error(client, task.run_id, error)
        client.log_metric(task.run_id, "step_seconds", time.time() - started)
        client.set_terminated(task.run_id, status)


def _worker() -> Any:
    """The dask worker running this step, or None when called directly (tests, debugging)."""
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def _announce(task: StepTask) -> None:
    """Tell the client this step has started (it shows as running)."""
    worker = _worker()
    if task.events is not None and worker is not None:
        worker.log_event(task.events, {"step": task.step, "state": "running"})


@contextlib.contextmanager
def _seceded(slots: str | None, max_slots: int) -> Iterator[None]:
    """Leave the worker's thread pool while the kernel runs: a notebook that calls `wb.train`
    submits to this same cluster, and must not wait for the thread its own step holds. A
    semaphore with as many leases as the cluster has threads, taken after leaving the pool,
    still keeps a wide DAG from starting every kernel at once."""
    from distributed import Semaphore, rejoin, secede

    if _worker() is None:
        yield
        return
    secede()
    try:
        if slots is None:
            yield
        else:
            semaphore = Semaphore(max_leases=max_slots, name=slots)
            try:
                with semaphore:
                    yield
            finally:
                semaphore.refresh_callback.stop()  # else it ticks on for the worker's life
    finally:
        rejoin()


def _run_notebook(task: StepTask, client: Any) -> None:
    from workbench.tracking.provenance import file_sha256

    source = Path(task.root) / str(task.notebook)
    with tempfile.TemporaryDirectory(prefix="wb-step-") as scratch:
        env = {"WORKBENCH_NOTEBOOK": str(source), "WORKBENCH_PIPELINE": task.pipeline,
               "WORKBENCH_PIPELINE_STEP": task.step, "WORKBENCH_PIPELINE_STEP_RUN": task.run_id,
               "WORKBENCH_PIPELINE_RUN": task.pipeline_run_id,
               "MLFLOW_TRACKING_URI": task.tracking_uri, **task.settings_env}
        digest = file_sha256(str(source))
        if digest:  # what papermill reads now, even if someone saves an edit mid-run
            env["WORKBENCH_NOTEBOOK_SHA256"] = digest
        worker = _worker()
        if worker is not None:  # wb.train in the notebook runs on the pipeline's own cluster
            env["WORKBENCH_SCHEDULER"] = str(worker.scheduler.address)
        if source.suffix == ".py":
            output = Path(scratch) / f"{source.stem}.html"
            try:
                _marimo(source, output, task, env)
            finally:
                if output.exists():
                    client.log_artifact(task.run_id, str(output), "notebook")
            return
        output = Path(scratch) / source.name
        try:
            _papermill(source, output, task, env)
        finally:
            if output.exists():  # the executed notebook, partial on failure
                client.log_artifact(task.run_id, str(output), "notebook")


def _kernel_manager(env: dict[str, str], scratch: str) -> type:
    """A kernel manager that starts its kernel with `env` added (steps seceded from the
    worker's pool may run side by side, so the process environment is never changed), talking
    over Unix sockets in the step's scratch directory rather than open TCP ports."""
    from jupyter_client.manager import AsyncKernelManager

    class StepKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any) -> None:
            super().__init__(transport="ipc", ip=str(Path(scratch) / "kernel"), **kw)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            await super().start_kernel(**kw)

    return StepKernelManager


def _papermill(source: Path, output: Path, task: StepTask, env: dict[str, str]) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(source), str(output), parameters=task.params,
                                   cwd=task.root, progress_bar=False, log_output=False,
                                   execution_timeout=task.timeout_s, start_timeout=120,
                                   kernel_manager_class=_kernel_manager(env, str(output.parent)))
    except PapermillExecutionError as exc:
        first = (exc.source or "").strip().splitlines()[:1]
        raise StepFailed(
            f"step {task.step} failed in cell [{exc.exec_count}] "
            f"({first[0][:60] if first else 'empty'}): {exc.ename}: {exc.evalue}\n"
            + ANSI.sub("", "\n".join(exc.traceback))) from None


def _marimo(source: Path, output: Path, task: StepTask, env: dict[str, str]) -> None:
    marimo = str(Path(sys.executable).with_name("marimo"))
    args = [a for name, value in task.params.items() for a in (f"--{name}", str(value))]
    done = subprocess.run([marimo, "export", "html", str(source), "-o", str(output), "-f",
                           "--", *args], cwd=task.root, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=task.timeout_s, check=False)
    if done.returncode != 0:
        tail = ANSI.sub("", (done.stderr or done.stdout).strip())[-2000:]
        raise StepFailed(f"step {task.step} failed: marimo exited {done.returncode}\n{tail}")


def _run_function(task: StepTask, client: Any) -> dict[str, Any]:
    module_name, _, name = str(task.function).partition(":")
    if task.root not in sys.path:
        sys.path.insert(0, task.root)
    fn = getattr(importlib.import_module(module_name), name)
    accepted = inspect.signature(fn).parameters
    takes_all = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in task.params.items() if takes_all or k in accepted}
    before = os.getcwd()
    os.chdir(task.root)  # as notebook steps: relative paths mean the project's
    try:
        returned = fn(**kwargs)
    finally:
        os.chdir(before)
    outputs = dict(returned) if isinstance(returned, dict) else {}
    numbers = {k: float(v) for k, v in outputs.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for key, value in numbers.items():
        client.log_metric(task.run_id, key, value)
    return outputs


def _record_error(client: Any, run_id: str, error: BaseException) -> None:
    try:
        text = str(error) if isinstance(error, StepFailed) else "".join(
            traceback.format_exception(error))
        client.log_text(run_id, text, "error/traceback.txt")
        client.set_tag(run_id, "workbench.error", text.splitlines()[0][:500] if text else "")
    except Exception:
        pass  # the step's own error is what the user needs; never mask it
