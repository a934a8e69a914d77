"""`wb.pipeline.run` / `workbench pipeline run`: check everything, then run the DAG on dask.

Every pipeline run is an MLflow run; every step a nested run holding its executed notebook.
Parameters are checked against the spec and each notebook's own parameters before any run is
created or any step starts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import project_root
from workbench.errors import ConfigError, PipelineFailed
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import PipelineSpec, Step, is_of_type, load_spec
from workbench.pipelines.steps import StepTask, run_step
from workbench.project import PIPELINES_DIR, project_path


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
        timeout_s: float | None = None) -> PipelineRun:
    """Run pipeline `name` once; raises PipelineFailed (after recording it) if a step fails."""
    from workbench.config import settings
    from workbench.dask_cluster import cluster
    from workbench.tracking.datasets import log_dataset
    from workbench.tracking.provenance import run_tags
    from workbench.tracking.store import ensure_experiment, log_params, tracking_client

    base = project_root(root)
    spec = load_spec(spec_path(name, base))
    values = spec.resolve_params(dict(params or {}))
    sources = {key: _input(spec, key, str(values[key]), base) for key in spec.inputs}
    values.update({key: source.source for key, source in sources.items()})
    per_step = {s.name: step_params(spec, s, values, base) for s in spec.steps}
    tracking = tracking_client()
    experiment_id = ensure_experiment(tracking, experiment or f"pipeline-{name}")
    tags = {**run_tags(0), "workbench.kind": "pipeline", "workbench.pipeline": name}
    parent = tracking.create_run(experiment_id, run_name=f"{name}", tags=tags).info.run_id
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
        futures: dict[str, Any] = {}
        by_name = {s.name: s for s in spec.steps}
        token = uuid.uuid4().hex[:8]
        topic = f"workbench-pipeline-{token}"
        slots = f"{topic}-slots"
        threads = sum(int(w.get("nthreads", 1))
                      for w in dask.scheduler_info(n_workers=-1)["workers"].values()) or 1
        where = settings()
        settings_env = {"WORKBENCH_HOME": str(where.home),
                        **({"WORKBENCH_ARTIFACT_ROOT": where.artifact_root}
                           if where.artifact_root else {})}
        events = _subscribe(dask, topic, outcome, on_event)
        for wave in spec.order():
            for step_name in wave:
                step = by_name[step_name]
                task = StepTask(pipeline=name, step=step.name, run_id=runs[step.name],
                                tracking_uri=settings().tracking_uri, root=str(base),
                                notebook=step.notebook, function=step.function,
                                params=per_step[step.name], timeout_s=timeout_s,
                                pipeline_run_id=parent, events=topic if on_event else None,
                                settings_env=settings_env, slots=slots,
                                max_slots=threads)
                futures[step.name] = dask.submit(
                    run_step, task, *[futures[d] for d in step.depends_on],
                    key=f"pipeline-{name}-{step.name}-{token}", pure=False)
        try:
            _wait(futures, outcome, on_event, events)
        finally:
            _release(dask, topic if on_event else None,
                     slots if any(s.notebook for s in spec.steps) else None)
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


def _release(dask: Any, topic: str | None, slots: str | None) -> None:
    """Stop listening, and drop this run's semaphore from the scheduler."""
    with contextlib.suppress(Exception):  # never mask the run's own outcome
        if topic is not None:
            dask.unsubscribe_topic(topic)
        if slots is not None:
            dask.sync(dask.scheduler.semaphore_close, name=slots)


def _wait(futures: dict[str, Any], outcome: PipelineRun,
          on_event: Callable[[str, str, str], None] | None, lock: Any) -> None:
    """Record each step's end as it comes, in the order the steps finish."""
    import queue

    names = {f.key: n for n, f in futures.items()}
    done: queue.Queue[Any] = queue.Queue()
    started = time.monotonic()
    for future in futures.values():  # our client is not dask's default, so no as_completed
        future.add_done_callback(done.put)
    for _ in range(len(futures)):
        future = done.get()
        name = names[future.key]
        step = outcome.steps[name]
        if future.status == "finished":
            result = future.result()
            step.status, step.seconds = "FINISHED", float(result["seconds"])
            detail = f"{step.seconds:.1f} s"
        else:
            error = future.exception()
            own = getattr(error, "args", [""])[0]
            if isinstance(own, str) and own.startswith(f"step {name} "):
                step.status, step.error = "FAILED", own.splitlines()[0]
                step.seconds = time.monotonic() - started
            else:  # an upstream step's failure, passed down by dask: this one never ran
                step.status, step.error = "KILLED", f"not run: {str(own).splitlines()[0]}"
            detail = step.error or ""
        if on_event:
            with lock:
                on_event(name, step.status.lower(), detail)


def _finish(tracking: Any, outcome: PipelineRun, status: str) -> None:
    for step in outcome.steps.values():
        if step.status in ("RUNNING", "KILLED"):  # never started: say why, end it
            step.status = "KILLED"
            tracking.set_tag(step.run_id, "workbench.skipped", step.error or "pipeline stopped")
            tracking.set_terminated(step.run_id, "KILLED")
    outcome.status = status
    failed = next((s for s in outcome.steps.values() if s.status == "FAILED"), None)
    if failed is not None:
        tracking.set_tag(outcome.run_id, "workbench.error", (failed.error or "")[:500])
        tracking.set_tag(outcome.run_id, "workbench.failed_step", failed.name)
    tracking.set_terminated(outcome.run_id, status)
