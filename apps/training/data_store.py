"""What the training dashboard reads and launches, through the workbench API (no panel here):
a train function's typed parameters, a checked launch of `wb.train` or `wb.sweep`, and what a
running job shows (status, progress, metric curves), and its cancellation."""

from __future__ import annotations

import importlib.util
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import workbench as wb
from workbench.errors import WorkbenchError

DEMO = "workbench.demo.classifier:train"
DEMO_SPACE = "lr=0.003,0.01,0.03\nhidden=16,64"
KINDS = ("int", "float", "bool", "str", "choice")


@dataclass(frozen=True)
class Param:
    """One declared parameter of a train function, as a form field."""

    name: str
    kind: str  # one of KINDS
    default: Any
    help: str = ""
    options: tuple[Any, ...] = ()  # for "choice" (a Literal or an Enum)
    bounds: str = ""  # e.g. "≥ 1, ≤ 10000", as the schema declares them


@dataclass(frozen=True)
class Outcome:
    """What an action did, as the form says it; `job` is the launched Job or Sweep."""

    ok: bool
    message: str
    job: Any = field(default=None, compare=False)


def checked_function(ref: str, root: Path) -> Any:
    """The train function `ref` ("module:function") names, if it is the demo or lives in the
    project: a dashboard user may launch the project's code, not any importable callable."""
    ref = ref.strip()
    if ref.count(":") != 1 or not all(ref.split(":")):
        raise WorkbenchError(f"{ref!r} is not module:function, e.g. {DEMO} or "
                             "my_model:train (a file of the project)")
    module = ref.split(":")[0]
    if module != "workbench.demo" and not module.startswith("workbench.demo."):
        from workbench.project import on_import_path

        on_import_path(root)
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        origin = Path(found.origin).resolve() if found and found.origin else None
        if origin is None or not origin.is_relative_to(root):
            raise WorkbenchError(f"module {module!r} is not a file of the project {root}; the "
                                 f"dashboard trains the project's functions or {DEMO}")
    from workbench.project import import_project_module
    from workbench.training.spec import resolve_function

    import_project_module(module, root)
    return resolve_function(ref)


def params_of(fn: Any) -> list[Param]:
    """The fields of the function's `@trainable(params=...)` schema (none: free-form)."""
    from pydantic_core import PydanticUndefined

    from workbench.training.spec import spec_of

    schema = spec_of(fn).params
    if schema is None:
        return []
    found = []
    for name, info in schema.model_fields.items():
        default = None if info.default is PydanticUndefined else info.default
        kind, options = _kind(info.annotation)
        bounds = [f"{sign} {getattr(rule, attr):g}" for rule in info.metadata
                  for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
                  if getattr(rule, attr, None) is not None]  # Field(ge=...) rules
        found.append(Param(name, kind, default, info.description or "", options,
                           ", ".join(bounds)))
    return found


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    import enum

    if typing.get_origin(annotation) is typing.Literal:
        return "choice", typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", tuple(member.value for member in annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # Optional[X]
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(inner[0]) if len(inner) == 1 else ("str", ())
    for kind, cls in (("bool", bool), ("int", int), ("float", float)):
        if annotation is cls:
            return kind, ()
    return "str", ()


def launch(ref: str, params: dict[str, Any], root: Path, *, data_path: str = "",
           sweep_space: str = "", metric: str = "", mode: str = "min",
           n_trials: int | None = None, workers: int = 1, user: str | None = None) -> Outcome:
    """Launch a run (or a sweep when `sweep_space` has lines) as `user`; every refusal is one
    line saying what to fix, before anything is submitted."""
    from workbench.training.space import parse_space

    try:
        checked_function(ref, root)  # wb.train then imports it by name, as the CLI does
        data = _data(data_path, root)
        tags = {"workbench.launched_by": user} if user else None
        name = ref.strip()
        if sweep_space.strip():
            space = parse_space(sweep_space.splitlines())
            if not metric.strip():
                raise WorkbenchError("a sweep needs the metric to optimise, e.g. val_loss")
            job = wb.sweep(name, space=space, data=data, params=params,
                           metric=metric.strip(), mode=mode, n_trials=n_trials or None,
                           progress=False)
            _tag(job.parent_run_id, tags)
            return Outcome(True, f"sweep {job.parent_run_id} started: {len(job.jobs)} trials",
                           job)
        job = wb.train(name, params=params, data=data, workers=workers, progress=False)
        _tag(job.run_id, tags)
        return Outcome(True, f"run {job.run_id} started", job)
    except WorkbenchError as exc:
        return Outcome(False, str(exc).splitlines()[0])


def _data(path: str, root: Path) -> Path | None:
    from workbench.project import project_path

    if not path.strip():
        return None
    resolved = project_path(path.strip(), root)
    if not resolved.exists():
        raise WorkbenchError(f"{path.strip()} does not exist under the project {root}")
    return resolved


def _tag(run_id: str, tags: dict[str, str] | None) -> None:
    from workbench.tracking.store import tracking_client

    for key, value in (tags or {}).items():
        tracking_client().set_tag(run_id, key, value)


def runs_of(job: Any) -> dict[str, str]:
    """run id -> a short name, for the curves: the run itself, or each trial of a sweep."""
    if hasattr(job, "jobs"):
        return {trial.run_id: trial.name for trial in job.jobs}
    return {job.run_id: job.name}


def snapshot(job: Any, metric: str | None) -> dict[str, Any]:
    """Status, per-run progress and `metric`'s curve per run, read now."""
    runs = runs_of(job)
    jobs = job.jobs if hasattr(job, "jobs") else [job]
    progress = {j.run_id: j.progress() for j in jobs}
    metrics = sorted({k for p in progress.values() for k in p["metrics"]})
    chosen = metric if metric in metrics else (metrics[0] if metrics else None)
    curves = wb.metric_histories(list(runs), [chosen]) if chosen else {}
    steps = [(p["step"] + 1, p["total"]) for p in progress.values()]
    return {"status": job.status(), "runs": runs, "progress": progress, "metrics": metrics,
            "metric": chosen, "curves": curves,
            "done_steps": sum(max(s, 0) for s, _ in steps),
            "total_steps": sum(t or 0 for _, t in steps) or None}


def cancel(job: Any) -> Outcome:
    job.cancel()
    return Outcome(True, f"cancelled {getattr(job, 'parent_run_id', None) or job.run_id}")
