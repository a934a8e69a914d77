"""One pipeline step on a dask worker: run it, keep what it produced, record it in MLflow.

Notebook steps run under papermill (marimo notebooks under `marimo export html`) in the
notebook's own folder, as in Lab, so `../data/x.csv` means the same in both; function steps run
in the project root. The executed notebook is the step run's artifact even when a cell fails,
so the partial outputs are kept.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
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
    auth: dict[str, str]  # the submitter's tracking login (tracking.credentials)
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
    stop: str | None = None  # dask Event the client sets to stop the run


class StepFailed(Exception):
    """A step failed; the message says where (the cell) and what (the error)."""


def run_step(task: StepTask, *upstream: Any) -> dict[str, Any]:
    """Run the step after its upstream steps. Returns its outcome (`status` FINISHED, FAILED or
    KILLED) rather than raising: a failure is recorded here, and dask never logs a traceback
    on the worker's stderr for what the client reports in one line."""
    from workbench.tracking.store import tracking_client

    blocked = next((u for u in upstream if u.get("status") != "FINISHED"), None)
    if blocked is not None:  # an upstream step failed or was stopped: this one never runs
        cause = blocked.get("cause") or blocked.get("error") or "stopped"
        return {"step": task.step, "status": "KILLED", "cause": cause,
                "error": f"not run: {cause}"}
    client = tracking_client(task.tracking_uri, task.auth)  # cached per worker: per store
    started = time.time()
    status, error = "FAILED", None
    outputs: dict[str, Any] = {}
    with _Halt(task) as halt:
        try:
            if task.notebook is not None:
                with _seceded(task.slots, task.max_slots):
                    halt.check()  # stopped while waiting for a slot: never start the kernel
                    _announce(task)  # running now, not waiting for a slot
                    _run_notebook(task, client, halt)
            else:
                halt.check()
                _announce(task)
                outputs = _run_function(task, client)
            status = "FINISHED"
        except StepFailed as exc:
            error = exc
        except Exception as exc:
            error = StepFailed(f"step {task.step} failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
    if halt.stopped:  # whatever the step did after the stop, it ends KILLED, never FINISHED
        status, error = "KILLED", None
    _end(client, task, status, error, time.time() - started)
    seconds = time.time() - started
    if status == "FINISHED":
        return {"step": task.step, "status": status, "run_id": task.run_id,
                "seconds": seconds, "outputs": outputs}
    message = str(error).splitlines()[0] if error else "stopped: the pipeline run was stopped"
    return {"step": task.step, "status": status, "run_id": task.run_id, "seconds": seconds,
            "error": message}


def _end(client: Any, task: StepTask, status: str, error: BaseException | None,
         seconds: float) -> None:
    """Record the step's end, unless someone already ended its run (the client after a stop,
    a scheduler that took the slot over): a late end never overwrites theirs."""
    if error is not None:
        _record_error(client, task.run_id, error)
    client.log_metric(task.run_id, "step_seconds", seconds)
    if client.get_run(task.run_id).info.status != "RUNNING":
        return
    if status == "KILLED":
        client.set_tag(task.run_id, "workbench.skipped", "stopped: the pipeline run was stopped")
    client.set_terminated(task.run_id, status)


class StepStopped(Exception):
    """The pipeline run was stopped (Ctrl-C, SIGTERM, a scheduler stopping)."""


class _Halt:
    """Watch the run's stop event (a dask Event the client sets on Ctrl-C) while the step
    runs; when it fires, kill the step's kernel or marimo process group at once."""

    def __init__(self, task: StepTask) -> None:
        self.name = task.stop
        self.stopped = False
        self.groups: set[int] = set()
        self._done = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> _Halt:
        from distributed import Event

        if self.name is None or _worker() is None:
            return self
        event = Event(self.name)
        _ = event.client  # resolve the worker's client in the task's thread

        def watch() -> None:
            while not self._done.is_set():
                with contextlib.suppress(Exception):  # the scheduler went away: nothing to stop
                    if event.wait(timeout=1):
                        self._stop()
                        return
                if self._done.wait(0.2):
                    return

        threading.Thread(target=watch, name=f"halt {self.name}", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _stop(self) -> None:
        with self._lock:
            self.stopped = True
            for group in self.groups:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)

    def started(self, group: int) -> None:
        """A kernel (or marimo) now runs in process group `group`: kill it if stopped."""
        with self._lock:
            self.groups.add(group)
            if self.stopped:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)

    def check(self) -> None:
        if self.stopped:
            raise StepStopped("stopped before it started")


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


def _run_notebook(task: StepTask, client: Any, halt: _Halt) -> None:
    from workbench.project import PROJECT_VARIABLE, python_path
    from workbench.tracking.provenance import file_sha256

    source = Path(task.root) / str(task.notebook)
    with tempfile.TemporaryDirectory(prefix="wb-step-") as scratch:
        # The kernel imports the project's modules and finds its pipelines and store as a Lab
        # kernel does, though it starts in the notebook's own folder.
        env = {"WORKBENCH_NOTEBOOK": str(source), "WORKBENCH_PIPELINE": task.pipeline,
               "WORKBENCH_PIPELINE_STEP": task.step, "WORKBENCH_PIPELINE_STEP_RUN": task.run_id,
               "WORKBENCH_PIPELINE_RUN": task.pipeline_run_id,
               "MLFLOW_TRACKING_URI": task.tracking_uri, PROJECT_VARIABLE: task.root,
               "PYTHONPATH": python_path(Path(task.root)), **task.settings_env, **task.auth}
        digest = file_sha256(str(source))
        if digest:  # what papermill reads now, even if someone saves an edit mid-run
            env["WORKBENCH_NOTEBOOK_SHA256"] = digest
        worker = _worker()
        if worker is not None:  # wb.train in the notebook runs on the pipeline's own cluster
            env["WORKBENCH_SCHEDULER"] = str(worker.scheduler.address)
        if source.suffix == ".py":
            output = Path(scratch) / f"{source.stem}.html"
            try:
                _marimo(source, output, task, env, halt)
            finally:
                if output.exists():
                    client.log_artifact(task.run_id, str(output), "notebook")
            return
        output = Path(scratch) / source.name
        try:
            _papermill(source, output, task, env, halt)
        finally:
            if output.exists():  # the executed notebook, partial on failure
                client.log_artifact(task.run_id, str(output), "notebook")


def _kernel_manager(env: dict[str, str], scratch: str, halt: _Halt, folder: Path) -> type:
    """A kernel manager that starts its kernel in `folder` (the notebook's, where Lab starts
    it) with `env` added (steps seceded from the worker's pool may run side by side, so neither
    the process's working directory nor its environment is ever changed), talking
    over Unix sockets in the step's scratch directory rather than open TCP ports, and telling
    `halt` the kernel's process group so a stop kills it."""
    from jupyter_client.manager import AsyncKernelManager

    class StepKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any) -> None:
            super().__init__(transport="ipc", ip=str(Path(scratch) / "kernel"), **kw)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            kw["cwd"] = str(folder)
            await super().start_kernel(**kw)
            group = getattr(self.provisioner, "pgid", None)
            if group:  # jupyter_client starts kernels in a session of their own
                halt.started(int(group))

    return StepKernelManager


def _papermill(source: Path, output: Path, task: StepTask, env: dict[str, str],
               halt: _Halt) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from workbench.pipelines.kernels import kernel

    # The step's outcome is reported once, by the client; papermill's own log lines ("Kernel
    # died" after a stop) and nbformat's warning about cells without ids would only be noise
    # on the worker's stderr.
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Cell is missing an id field")
    name, language = kernel(source)
    try:
        papermill.execute_notebook(str(source), str(output), parameters=task.params,
                                   kernel_name=name, language=language,
                                   progress_bar=False, log_output=False,
                                   execution_timeout=task.timeout_s, start_timeout=120,
                                   kernel_manager_class=_kernel_manager(
                                       env, str(output.parent), halt, source.parent))
    except PapermillExecutionError as exc:
        first = (exc.source or "").strip().splitlines()[:1]
        raise StepFailed(
            f"step {task.step} failed in cell [{exc.exec_count}] "
            f"({first[0][:60] if first else 'empty'}): {exc.ename}: {exc.evalue}\n"
            + ANSI.sub("", "\n".join(exc.traceback))) from None


def _marimo(source: Path, output: Path, task: StepTask, env: dict[str, str],
            halt: _Halt) -> None:
    marimo = str(Path(sys.executable).with_name("marimo"))
    args = [a for name, value in task.params.items() for a in (f"--{name}", str(value))]
    child = subprocess.Popen([marimo, "export", "html", str(source), "-o", str(output), "-f",
                              "--", *args], cwd=source.parent, env={**os.environ, **env},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # its own group: a stop kills it whole
    halt.started(child.pid)
    try:
        out, err = child.communicate(timeout=task.timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise
    if child.returncode != 0:
        tail = ANSI.sub("", (err or out).strip())[-2000:]
        raise StepFailed(f"step {task.step} failed: marimo exited {child.returncode}\n{tail}")


def _run_function(task: StepTask, client: Any) -> dict[str, Any]:
    module_name, _, name = str(task.function).partition(":")
    fn = getattr(_project_module(module_name, Path(task.root)), name)
    accepted = inspect.signature(fn).parameters
    takes_all = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in task.params.items() if takes_all or k in accepted}
    before = os.getcwd()
    # A function has no folder of its own the way a notebook has: its relative paths mean the
    # project root's, as for `workbench train` run from the root.
    os.chdir(task.root)
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


def _project_module(name: str, root: Path) -> Any:
    """Module `name` as the project's file says now: a long-lived worker has imported it
    before, maybe from another project's file of that name or before the file was edited."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    relative = Path(*name.split("."))
    source = next((p for p in (root / relative.with_suffix(".py"), root / relative / "__init__.py")
                   if p.is_file()), None)
    loaded = sys.modules.get(name)
    if source is not None and loaded is not None and (
            getattr(loaded, "__file__", None) != str(source)
            or _LOADED.get(name) != source.stat().st_mtime_ns):
        importlib.invalidate_caches()
        sys.path.remove(str(root))
        sys.path.insert(0, str(root))  # this project's files first
        for key in [k for k in sys.modules if k == name or k.startswith(f"{name}.")]:
            del sys.modules[key]
    module = importlib.import_module(name)
    if source is not None:
        _LOADED[name] = source.stat().st_mtime_ns
    return module


_LOADED: dict[str, int] = {}  # project module -> mtime of the file it was imported from


def _record_error(client: Any, run_id: str, error: BaseException) -> None:
    """The one-line reason as a tag; the whole traceback (or the failing cell's) as a file."""
    try:
        cause = error.__cause__
        text = str(error) if cause is None else (
            str(error) + "\n\n" + "".join(traceback.format_exception(cause)))
        client.log_text(run_id, text, "error/traceback.txt")
        client.set_tag(run_id, "workbench.error", str(error).splitlines()[0][:500])
    except Exception:
        pass  # the step's own error is what the user needs; never mask it


IGNORE_SIGINT = "workbench-ignore-sigint"


def ignore_sigint() -> Any:
    """A worker plugin for a cluster this process started: a terminal's Ctrl-C reaches the
    whole process group, and the workers must leave stopping the steps to the client (which
    kills their kernels and records them KILLED) instead of dying mid-step with tracebacks."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()
