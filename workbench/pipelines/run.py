"""`wb.pipeline.run` / `workbench pipeline run`: check everything, then run the DAG on dask.

Every pipeline run is an MLflow run; every step a nested run holding its executed notebook.
Parameters are checked against the spec and each notebook's own parameters before any run is
created or any step starts.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, PipelineFailed
from workbench.pipelines.create import PIPELINES_DIR, project_path
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import PipelineSpec, Step, is_of_type, load_spec
from workbench.pipelines.steps import StepTask, run_step


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

    base = Path(root or Path.cwd()).resolve()
    spec = load_spec(spec_path(name, base))
    values = spec.resolve_params(dict(params or {}))
    sources = {name: _input(spec, name, str(values[name]), base) for name in spec.inputs}
    values.update({name: source.source for name, source in sources.items()})
    per_step = {s.name: step_params(spec, s, values, base) for s in spec.steps}
    tracking = tracking_client()
    experiment_id = ensure_experiment(tracking, experiment or f"pipeline-{name}")
    tags = {**run_tags(0), "workbench.kind": "pipeline", "workbench.pipeline": name}
    parent = tracking.create_run(experiment_id, run_name=f"{name}", tags=tags).info.run_id
    outcome = PipelineRun(name=name, run_id=parent, status="RUNNING", params=values)
    try:
        log_params(tracking, parent, values)
        for name, source in sources.items():
            log_dataset(tracking, parent, source, None, None, context=f"pipeline-input:{name}")
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
        threads = sum(int(w.get("nthreads", 1))
                      for w in dask.scheduler_info(n_workers=-1)["workers"].values()) or 1
        where = settings()
        settings_env = {"WORKBENCH_HOME": str(where.home),
                        **({"WORKBENCH_ARTIFACT_ROOT": where.artifact_root}
                           if where.artifact_root else {})}
        for wave in spec.order():
            for step_name in wave:
                step = by_name[step_name]
                task = StepTask(pipeline=name, step=step.name, run_id=runs[step.name],
                                tracking_uri=settings().tracking_uri, root=str(base),
                                notebook=step.notebook, function=step.function,
                                params=per_step[step.name], timeout_s=timeout_s,
                                pipeline_run_id=parent, events=topic if on_event else None,
                                settings_env=settings_env, slots=f"{topic}-slots",
                                max_slots=threads)
                futures[step.name] = dask.submit(
                    run_step, task, *[futures[d] for d in step.depends_on],
                    key=f"pipeline-{name}-{step.name}-{token}", pure=False)
        _wait(dask, topic, futures, outcome, on_event)
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

    resolved = (root / path).expanduser().resolve()
    try:
        return inspect(resolved)
    except ConfigError as exc:
        raise ConfigError(f"input {name} of pipeline {spec.name}: {exc}") from None


def _wait(dask: Any, topic: str, futures: dict[str, Any], outcome: PipelineRun,
          on_event: Callable[[str, str, str], None] | None) -> None:
    import queue
    import threading

    names = {f.key: n for n, f in futures.items()}
    started = time.monotonic()
    done: queue.Queue[Any] = queue.Queue()
    lock = threading.Lock()  # events come from dask's thread and ours

    def running(event: Any) -> None:
        message = event[1] if isinstance(event, tuple) else event
        name = message.get("step") if isinstance(message, dict) else None
        with lock:
            if on_event and name in outcome.steps and outcome.steps[name].status == "RUNNING":
                on_event(name, "running", "")

    if on_event:
        for name in futures:
            on_event(name, "queued", "")
        dask.subscribe_topic(topic, running)
    try:
        _collect(futures, names, done, started, outcome, on_event, lock)
    finally:
        if on_event:
            dask.unsubscribe_topic(topic)


def _collect(futures: dict[str, Any], names: dict[str, str], done: Any, started: float,
             outcome: PipelineRun, on_event: Callable[[str, str, str], None] | None,
             lock: Any) -> None:
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
