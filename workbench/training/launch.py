"""`wb.train` and `wb.sweep`: check everything on the client, record the run, submit to dask."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from workbench.config import require_shared_store, seconds_from_env
from workbench.errors import ConfigError
from workbench.project import import_project_module
from workbench.tracking.credentials import forwarded
from workbench.training import space as spaces
from workbench.training.job import Job, Sweep
from workbench.training.runner import TrialSpec, run_trial, without_model
from workbench.training.spec import function_name, resolve_function, spec_of, validate_params

if TYPE_CHECKING:
    from distributed import Client
    from mlflow import MlflowClient

    from workbench.data import DataSource

TrainFn = Callable[..., Any] | str


def train(
    fn: TrainFn,
    *,
    params: Mapping[str, Any] | None = None,
    data: Any = None,
    experiment: str | None = None,
    run_name: str | None = None,
    workers: int = 1,
    resources: Mapping[str, float] | None = None,
    register: str | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> Job:
    """Run `fn(ctx)` on the dask cluster as one tracked MLflow run.

    `workers > 1` runs data-parallel (PyTorch DDP) across that many dask workers, one MLflow run
    for the whole job with rank 0 logging.
    """
    require_shared_store("training")
    plan = _Plan.make(fn, params, data, seed)
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    tracking, experiment_id = _tracking(experiment)
    dask = _dask()
    if workers > 1:
        _check_world(dask, workers)
    run_id = _create_run(tracking, experiment_id, run_name, plan, plan.params)
    payload = _failing_runs_on_error(tracking, [run_id], _data_payload, dask, plan,
                                     broadcast=workers > 1)
    return _submit(dask, tracking, run_id, plan, plan.params, payload, workers=workers,
                   resources=resources, register=register, progress=progress,
                   name=run_name or plan.name)


def sweep(
    fn: TrainFn,
    *,
    space: Mapping[str, Any],
    data: Any = None,
    n_trials: int | None = None,
    metric: str,
    mode: str = "min",
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    log_models: str = "best",
) -> Sweep:
    """Grid or random search: one parent run, a nested run per trial, trials in parallel.

    `log_models`: "best" (default) exports only the best trial's returned model, once every
    trial is done; "all" exports each trial's; "none" logs no model. Every trial's checkpoints
    are kept either way.
    """
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")
    if log_models not in LOG_MODELS:
        raise ConfigError(f"log_models must be one of {', '.join(map(repr, LOG_MODELS))}, got "
                          f"{log_models!r}")
    require_shared_store("training")
    plan = _Plan.make(fn, params, data, seed)
    points = spaces.trials(space, n_trials, plan.seed)
    trial_params = [{**plan.params, **p} for p in points]
    checked = [validate_params(plan.spec_obj, p, plan.name) for p in trial_params]
    tracking, experiment_id = _tracking(experiment)
    dask = _dask()
    parent = _create_run(tracking, experiment_id, run_name or f"sweep {plan.name}", plan,
                         {"sweep.metric": metric, "sweep.mode": mode,
                          "sweep.n_trials": len(checked),
                          **{f"space.{k}": _describe_dim(v) for k, v in space.items()}},
                         extra_tags={"workbench.kind": "sweep"})
    # one copy of the data, shared by every trial
    payload = _failing_runs_on_error(tracking, [parent], _data_payload, dask, plan,
                                     broadcast=False)
    jobs = []
    for index, trial in enumerate(checked):
        run_id = _create_run(tracking, experiment_id, f"trial-{index}", plan, trial,
                             extra_tags={"mlflow.parentRunId": parent, "workbench.kind": "trial",
                                         "workbench.trial": str(index)})
        jobs.append(_submit(dask, tracking, run_id, plan, trial, payload, workers=1,
                            resources=None, register=None, progress=False,
                            name=f"trial-{index}", validate_model=False,
                            model=_TRIAL_MODEL[log_models]))
    return Sweep(parent_run_id=parent, jobs=jobs, metric=metric, mode=mode, tracking=tracking,
                 show_progress=progress, log_models=log_models)


LOG_MODELS = ("best", "all", "none")
_TRIAL_MODEL = {"best": "keep", "all": "log", "none": "skip"}


class _Plan:
    """What the client resolved about a launch before touching any service."""

    def __init__(self, fn: TrainFn, params: dict[str, Any], data: Any,
                 source: DataSource | None, seed: int, spec_obj: Any, name: str) -> None:
        self.fn = fn
        self.params = params
        self.data = data
        self.source = source
        self.seed = seed
        self.spec_obj = spec_obj
        self.name = name
        self.tags: dict[str, str] | None = None

    @classmethod
    def make(cls, fn: TrainFn, params: Mapping[str, Any] | None, data: Any,
             seed: int | None) -> _Plan:
        from workbench.data import inspect, require_columns

        if isinstance(fn, str) and fn.count(":") == 1:  # the project's module, found from here
            import_project_module(fn.split(":")[0])
        resolved = resolve_function(fn)
        name = function_name(fn)
        spec_obj = spec_of(resolved)
        checked = validate_params(spec_obj, params, name)
        source = None
        if data is not None:
            source = inspect(data)
            require_columns(source, spec_obj.target)
        if not isinstance(fn, str):
            _check_picklable(resolved, name)
        if seed is None:
            seed = int(checked["seed"]) if isinstance(checked.get("seed"), int) else \
                random.SystemRandom().randrange(2**31)
        return cls(_shipped(fn, resolved), checked, data, source, seed, spec_obj, name)


def _shipped(fn: TrainFn, resolved: Callable[..., Any]) -> TrainFn:
    """What travels to the workers. Local workers have the project on their sys.path (see
    dask_cluster), so a "module:function" string is imported there, fresh from the file. A
    WORKBENCH_SCHEDULER cluster's workers may not have the project's files: functions of the
    project's modules go by value (cloudpickle), per submit, so no module is installed on a
    shared cluster where it could shadow another user's file of the same name or go stale."""
    from workbench.config import settings
    from workbench.project import ByValue, project_modules

    if settings().scheduler is None:
        return fn
    modules = project_modules()
    return ByValue(resolved, modules) if modules else fn


def _check_picklable(fn: Callable[..., Any], name: str) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(fn)
    except Exception as exc:
        raise ConfigError(
            f"train function {name} cannot be sent to dask workers ({type(exc).__name__}: {exc}); "
            "create locks, open files and clients inside the function instead of capturing them"
        ) from None


def _tracking(experiment: str | None) -> tuple[MlflowClient, str]:
    from workbench.tracking.store import ensure_experiment, tracking_client

    client = tracking_client()
    return client, ensure_experiment(client, experiment)


def _dask() -> Client:
    from workbench.dask_cluster import cluster

    return cluster()


def _check_world(dask: Client, workers: int) -> None:
    from workbench.dask_cluster import live_workers

    have = len(live_workers(dask))
    if have < workers:
        raise ConfigError(f"workers={workers} needs {workers} dask workers but the cluster has "
                          f"{have}; lower workers or add workers to the cluster")


def _create_run(tracking: MlflowClient, experiment_id: str, run_name: str | None, plan: _Plan,
                params: Mapping[str, Any], extra_tags: Mapping[str, str] | None = None) -> str:
    from workbench.tracking.datasets import log_dataset
    from workbench.tracking.provenance import environment_lock, run_tags
    from workbench.tracking.store import log_params

    if plan.tags is None:  # git and notebook lookups once per launch, not once per trial
        plan.tags = {**run_tags(plan.seed, plan.fn), "workbench.function": plan.name}
    tags = {**plan.tags, **(extra_tags or {})}
    run = tracking.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = str(run.info.run_id)
    try:
        log_params(tracking, run_id, params)
        if plan.source is not None:
            log_dataset(tracking, run_id, plan.source, plan.data, plan.spec_obj.target)
        tracking.log_text(run_id, environment_lock(), "environment/requirements.lock")
    except Exception:
        tracking.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _describe_dim(value: Any) -> str:
    return repr(value)[:500]


def _submit(dask: Client, tracking: MlflowClient, run_id: str, plan: _Plan,
            params: dict[str, Any], payload: Any, *, workers: int,
            resources: Mapping[str, float] | None, register: str | None, progress: bool,
            name: str, validate_model: bool = True, model: str = "log") -> Job:
    from workbench.config import settings
    from workbench.dask_cluster import torch_threads_hint

    job_key = f"workbench-{run_id}-{uuid.uuid4().hex[:6]}"
    spec = TrialSpec(run_id=run_id, tracking_uri=settings().tracking_uri, auth=forwarded(),
                     fn=plan.fn,
                     params=params, seed=plan.seed, job_key=job_key, register=register,
                     torch_threads=torch_threads_hint(dask), world_size=workers,
                     validate_model=validate_model, model=model, target=plan.spec_obj.target,
                     start_timeout_s=_start_timeout())
    kept = None
    placed: list[str] = []
    if workers == 1:
        futures = [dask.submit(run_trial, spec, payload, key=f"train-{run_id}", pure=False,
                               resources=dict(resources) if resources else None)]
        if model == "keep":  # the model stays on its worker; the client fetches the rest
            kept = futures[0]
            futures = [dask.submit(without_model, kept, key=f"summary-{run_id}", pure=False)]
    else:
        futures, placed = _submit_ranks(dask, spec, payload, workers, resources)
    try:
        return Job(run_id=run_id, futures=futures, dask=dask, tracking=tracking, job_key=job_key,
                   name=name, show_progress=progress, kept_model=kept, rank_workers=placed)
    except Exception:
        for future in [*futures, *([kept] if kept is not None else [])]:
            future.cancel()
        tracking.set_terminated(run_id, "FAILED")
        raise


def _failing_runs_on_error(tracking: MlflowClient, run_ids: list[str],
                           step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `step`; if it raises, mark the runs already created FAILED so none stays RUNNING."""
    try:
        return step(*args, **kwargs)
    except Exception:
        for run_id in run_ids:
            tracking.set_terminated(run_id, "FAILED")
        raise


def _data_payload(dask: Client, plan: _Plan, *, broadcast: bool) -> Any:
    if plan.source is None:
        return None
    if plan.source.kind == "pandas":
        return dask.scatter(plan.data, broadcast=broadcast, hash=False)
    if plan.source.kind == "dask":
        return dask.compute(plan.data)
    return plan.source  # a path: each worker reads it


def _start_timeout() -> float:
    return seconds_from_env("WORKBENCH_DDP_START_TIMEOUT_S", 120.0)


def _submit_ranks(dask: Client, spec: TrialSpec, payload: Any, workers: int,
                  resources: Mapping[str, float] | None) -> tuple[list[Any], list[str]]:
    """One task per rank, each pinned to its own worker, meeting at rank 0's host."""
    from workbench.dask_cluster import live_workers

    addresses = sorted(live_workers(dask))[:workers]
    port = dask.run(_free_port, workers=[addresses[0]])[addresses[0]]
    host = addresses[0].split("://")[-1].rsplit(":", 1)[0]
    futures = []
    for rank, address in enumerate(addresses):
        ranked = replace(spec, rank=rank, rendezvous=(host, port))
        futures.append(dask.submit(run_trial, ranked, payload, key=f"train-{spec.run_id}-r{rank}",
                                   pure=False, workers=[address], allow_other_workers=False,
                                   resources=dict(resources) if resources else None))
    return futures, addresses


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])
