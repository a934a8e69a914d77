"""`wb.pipeline.run` / `workbench pipeline run`: check everything, then run the DAG on dask.

Every pipeline run is an MLflow run; every step a nested run holding its executed notebook.
Parameters are checked against the spec and each notebook's own parameters before any run is
created or any step starts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import project_root, require_shared_store
from workbench.errors import ConfigError, PipelineFailed, WorkbenchError
from workbench.pipelines.kernels import kernel_name
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import PipelineSpec, Step, is_of_type, load_spec
from workbench.pipelines.steps import IGNORE_SIGINT, StepTask, ignore_sigint, run_step
from workbench.project import PIPELINES_DIR, project_path
from workbench.tracking.credentials import forwarded


class PipelineInterrupted(WorkbenchError):
    """The run was stopped (Ctrl-C, SIGTERM, its scheduler stopping): its steps ended KILLED."""


STOP_GRACE_S = 20.0  # how long a stop waits for the steps to record their end themselves


@dataclass
class StepOutcome:
    name: str
    run_id: str
    status: str  # FINISHED, FAILED, KILLED (not run: an upstream step failed)
    seconds: float | None = None
    error: str | None = None


@dataclass
class PipelineRun:
    name: str
    run_id: str
    status: str
    params: dict[str, Any]
    steps: dict[str, StepOutcome] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "run_id": self.run_id, "status": self.status,
                "params": self.params, "steps": {k: vars(v) for k, v in self.steps.items()}}


def spec_path(name: str, root: Path) -> Path:
    path = root / PIPELINES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / PIPELINES_DIR).glob("*.yaml"))
        raise ConfigError(f"no pipeline {name!r} in {root / PIPELINES_DIR} (pipelines: "
                          f"{', '.join(known) or 'none'}); create it with `workbench pipeline "
                          "create --from NOTEBOOK --name NAME`")
    return path


def step_params(spec: PipelineSpec, step: Step, values: Mapping[str, Any],
                root: Path) -> dict[str, Any]:
    """What one step receives; a notebook only gets parameters it declares."""
    if step.function is not None:
        module = step.function.split(":", 1)[0]
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"step {step.name}: module {module!r} not found; check its "
                              "function: entry")
        return {**values, **step.params}
    notebook = project_path(str(step.notebook), root)
    if not notebook.is_file():
        raise ConfigError(f"step {step.name}: notebook {notebook} does not exist")
    declared = notebook_parameters(notebook)
    if notebook.suffix == ".ipynb":
        try:
            kernel_name(notebook)
        except ConfigError as exc:
            raise ConfigError(f"step {step.name}: {exc}") from None
    for key, value in step.params.items():
        if key not in declared:
            raise ConfigError(f"step {step.name} sets {key}, which {step.notebook} does not "
                              f"declare (its parameters: {', '.join(declared)})")
        if not is_of_type(value, declared[key].type):
            raise ConfigError(f"step {step.name}: {key} must be {declared[key].type} as "
                              f"{step.notebook} declares it, got {value!r}")
    return {**{k: v for k, v in values.items() if k in declared}, **step.params}


def run(name: str, params: Mapping[str, Any] | None = None, *, root: str | Path | None = None,
        experiment: str | None = None, on_event: Callable[[str, str, str], None] | None = None,
        timeout_s: float | None = None, stop: threading.Event | None = None,
        tags: Mapping[str, str] | None = None) -> PipelineRun:
    """Run pipeline `name` once; raises PipelineFailed (after recording it) if a step fails.
    Ctrl-C (KeyboardInterrupt) or `stop` being set kills the running steps' kernels, ends
    every unfinished step KILLED and raises PipelineInterrupted. `tags` go on the run."""
    from workbench.config import settings
    from workbench.dask_cluster import cluster, live_workers
    from workbench.tracking.datasets import log_dataset
    from workbench.tracking.provenance import run_tags
    from workbench.tracking.store import ensure_experiment, log_params, tracking_client

    require_shared_store("pipeline steps")
    base = project_root(root)
    spec = load_spec(spec_path(name, base))
    values = spec.resolve_params(dict(params or {}))
    sources = {key: _input(spec, key, str(values[key]), base) for key in spec.inputs}
    values.update({key: source.source for key, source in sources.items()})
    per_step = {s.name: step_params(spec, s, values, base) for s in spec.steps}
    tracking = tracking_client()
    experiment_id = ensure_experiment(tracking, experiment or f"pipeline-{name}")
    run_tags_ = {**run_tags(0, root=base), **(tags or {}), "workbench.kind": "pipeline",
                 "workbench.pipeline": name}
    parent = tracking.create_run(experiment_id, run_name=f"{name}", tags=run_tags_).info.run_id
    outcome = PipelineRun(name=name, run_id=parent, status="RUNNING", params=values)
    try:
        log_params(tracking, parent, values)
        for key, source in sources.items():
            log_dataset(tracking, parent, source, None, None, context=f"pipeline-input:{key}")
        runs = {}
        for step in spec.steps:
            runs[step.name] = tracking.create_run(
                experiment_id, run_name=step.name,
                tags={"mlflow.parentRunId": parent, "workbench.kind": "pipeline-step",
                      "workbench.pipeline": name, "workbench.step": step.name,
                      **({"workbench.notebook": step.notebook} if step.notebook else {})},
            ).info.run_id
            log_params(tracking, runs[step.name], per_step[step.name])
            outcome.steps[step.name] = StepOutcome(step.name, runs[step.name], "RUNNING")
        dask = cluster()
        if settings().scheduler is None:  # our own local cluster: Ctrl-C is the client's
            dask.register_plugin(ignore_sigint(), name=IGNORE_SIGINT)
        futures: dict[str, Any] = {}
        by_name = {s.name: s for s in spec.steps}
        token = uuid.uuid4().hex[:8]
        topic = f"workbench-pipeline-{token}"
        slots, halt = f"{topic}-slots", f"{topic}-stop"
        threads = sum(int(w.get("nthreads", 1)) for w in live_workers(dask).values()) or 1
        where = settings()
        settings_env = {"WORKBENCH_HOME": str(where.home),
                        **({"WORKBENCH_ARTIFACT_ROOT": where.artifact_root}
                           if where.artifact_root else {})}
        events = _subscribe(dask, topic, outcome, on_event)
        for wave in spec.order():
            for step_name in wave:
                step = by_name[step_name]
                task = StepTask(pipeline=name, step=step.name, run_id=runs[step.name],
                                tracking_uri=settings().tracking_uri, auth=forwarded(),
                                root=str(base),
                                notebook=step.notebook, function=step.function,
                                params=per_step[step.name], timeout_s=timeout_s,
                                pipeline_run_id=parent, events=topic if on_event else None,
                                settings_env=settings_env, slots=slots,
                                max_slots=threads, stop=halt)
                futures[step.name] = dask.submit(
                    run_step, task, *[futures[d] for d in step.depends_on],
                    key=f"pipeline-{name}-{step.name}-{token}", pure=False)
        try:
            _wait(futures, outcome, on_event, events, stop)
        except (KeyboardInterrupt, _Stopped):
            _halt(dask, halt, futures, outcome, on_event, events)
            raise
        finally:
            _release(dask, topic if on_event else None,
                     slots if any(s.notebook for s in spec.steps) else None, halt)
    except (KeyboardInterrupt, _Stopped):
        _finish(tracking, outcome, "KILLED")
        killed = [s.name for s in outcome.steps.values() if s.status == "KILLED"]
        raise PipelineInterrupted(
            f"pipeline {name} stopped (run {parent}); steps ended KILLED: "
            f"{', '.join(killed) or 'none'}") from None
    except BaseException:
        _finish(tracking, outcome, "FAILED")
        raise
    failed = [s for s in outcome.steps.values() if s.status == "FAILED"]
    _finish(tracking, outcome, "FAILED" if failed else "FINISHED")
    if failed:
        raise PipelineFailed(f"pipeline {name} failed (run {parent}): {failed[0].error}")
    return outcome


def _input(spec: PipelineSpec, name: str, path: str, root: Path) -> Any:
    """An input's data, checked before anything runs; relative paths are the project's."""
    from workbench.data import inspect

    given = Path(path).expanduser()
    resolved = (given if given.is_absolute() else root / given).resolve()
    try:
        return inspect(resolved)
    except ConfigError as exc:
        raise ConfigError(f"input {name} of pipeline {spec.name}: {exc}") from None


def _subscribe(dask: Any, topic: str, outcome: PipelineRun,
               on_event: Callable[[str, str, str], None] | None) -> Any:
    """Listen for the steps' "running" events (before any step is submitted: dask does not
    replay events). Returns the lock that orders them with the client's own events."""
    import threading

    lock = threading.Lock()
    if on_event is None:
        return lock

    def running(event: Any) -> None:
        message = event[1] if isinstance(event, tuple) else event
        name = message.get("step") if isinstance(message, dict) else None
        with lock:
            if name in outcome.steps and outcome.steps[name].status == "RUNNING":
                on_event(name, "running", "")

    for name in outcome.steps:
        on_event(name, "queued", "")
    dask.subscribe_topic(topic, running)
    return lock


def _release(dask: Any, topic: str | None, slots: str | None, halt: str) -> None:
    """Stop listening, and drop this run's semaphore and stop event from the scheduler."""
    from distributed import Event

    with contextlib.suppress(Exception):  # never mask the run's own outcome
        if topic is not None:
            dask.unsubscribe_topic(topic)
        if slots is not None:
            dask.sync(dask.scheduler.semaphore_close, name=slots)
        Event(halt, client=dask).clear()


class _Stopped(Exception):
    """`stop` was set: a scheduler stopping its runs."""


def _halt(dask: Any, halt: str, futures: dict[str, Any], outcome: PipelineRun,
          on_event: Callable[[str, str, str], None] | None, lock: Any) -> None:
    """Stop every step: set the run's stop event (running steps kill their kernels, steps not
    started yet return at once), give them a moment to record their own end, then cancel."""
    from distributed import Event

    with contextlib.suppress(Exception):
        Event(halt, client=dask).set()
    deadline = time.monotonic() + STOP_GRACE_S  # our client is not the default: no wait()
    while time.monotonic() < deadline and not all(f.done() for f in futures.values()):
        time.sleep(0.1)
    for name, future in futures.items():
        step = outcome.steps[name]
        if step.status == "RUNNING":
            result = future.result() if future.status == "finished" else None
            step.status = (result or {}).get("status", "KILLED")
            step.error = (result or {}).get("error") or "stopped: the pipeline run was stopped"
            if on_event:
                with lock:
                    on_event(name, step.status.lower(), step.error if step.status != "FINISHED"
                             else "")
    with contextlib.suppress(Exception):
        dask.cancel(list(futures.values()))


def _wait(futures: dict[str, Any], outcome: PipelineRun,
          on_event: Callable[[str, str, str], None] | None, lock: Any,
          stop: threading.Event | None) -> None:
    """Record each step's end as it comes, in the order the steps finish."""
    import queue

    names = {f.key: n for n, f in futures.items()}
    done: queue.Queue[Any] = queue.Queue()
    started = time.monotonic()
    for future in futures.values():  # our client is not dask's default, so no as_completed
        future.add_done_callback(done.put)
    left = len(futures)
    while left:
        try:
            future = done.get(timeout=0.2)  # short waits: Ctrl-C and `stop` are seen at once
        except queue.Empty:
            if stop is not None and stop.is_set():
                raise _Stopped from None
            continue
        left -= 1
        name = names[future.key]
        step = outcome.steps[name]
        if future.status == "finished":
            result = future.result()
            step.status, step.seconds = result["status"], result.get("seconds")
            step.error = result.get("error")
            detail = f"{step.seconds:.1f} s" if step.status == "FINISHED" else step.error or ""
        else:  # the task itself broke (its worker died, the cluster went away)
            error = future.exception()
            step.status, step.error = "FAILED", f"step {name} failed: {type(error).__name__}: " \
                f"{str(error).splitlines()[0] if str(error) else ''}"
            step.seconds = time.monotonic() - started
            detail = step.error
        if on_event:
            with lock:
                on_event(name, step.status.lower(), detail)


def _finish(tracking: Any, outcome: PipelineRun, status: str) -> None:
    for step in outcome.steps.values():
        if step.status in ("RUNNING", "KILLED"):  # never started, or stopped: say why, end it
            step.status = "KILLED"
            if tracking.get_run(step.run_id).info.status == "RUNNING":  # else it ended itself
                tracking.set_tag(step.run_id, "workbench.skipped",
                                 step.error or "pipeline stopped")
                tracking.set_terminated(step.run_id, "KILLED")
    outcome.status = status
    failed = next((s for s in outcome.steps.values() if s.status == "FAILED"), None)
    if failed is not None:
        tracking.set_tag(outcome.run_id, "workbench.error", (failed.error or "")[:500])
        tracking.set_tag(outcome.run_id, "workbench.failed_step", failed.name)
    tracking.set_terminated(outcome.run_id, status)
