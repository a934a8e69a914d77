"""A saved notebook run once on dask, under papermill, as a tracked run: Lab's "Run as job".

The run is created here (so the sidebar lists it at once, before a worker starts it) and the
step runner does the rest exactly as for a pipeline step: the notebook's kernel starts in its
own folder, the executed notebook (partial on failure) becomes the run's `notebook/` artifact.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import is_of_type
from workbench.tracking.credentials import forwarded

KIND = "notebook-job"
EXPERIMENT = "notebook-jobs"
_running: dict[str, Any] = {}  # run id -> future: dask cancels a task whose future is dropped
_lock = threading.Lock()


@dataclass(frozen=True)
class NotebookJob:
    run_id: str
    notebook: str  # relative to the project root
    status: str
    error: str | None = None
    executed: str | None = None  # the executed notebook's artifact path, once there is one


def checked_params(notebook: Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` checked against the notebook's parameters cell: every name declared, every
    value of the declared type (an int where a float is declared is taken as a float)."""
    declared = notebook_parameters(notebook)
    values: dict[str, Any] = {}
    for name, value in given.items():
        if name not in declared:
            raise ConfigError(f"{notebook.name} declares no parameter {name!r}; it declares "
                              f"{', '.join(declared) or 'none'}")
        kind = declared[name].type
        if kind == "float" and is_of_type(value, "int"):
            value = float(value)
        if not is_of_type(value, kind):
            raise ConfigError(f"parameter {name} must be {kind}, got {value!r}")
        values[name] = value
    return values


def submit(notebook: Path, params: Mapping[str, Any], *, root: Path,
           experiment: str = EXPERIMENT) -> NotebookJob:
    """Start `notebook` (inside `root`) on the cluster with `params`; returns at once."""
    from workbench.config import settings
    from workbench.dask_cluster import cluster
    from workbench.pipelines.steps import StepTask, run_step
    from workbench.tracking.provenance import run_tags
    from workbench.tracking.store import ensure_experiment, log_params, tracking_client

    values = checked_params(notebook, params)
    relative = notebook.relative_to(root).as_posix()
    client = tracking_client()
    tags = {**run_tags(0, root=root, launcher=str(notebook)), "workbench.kind": KIND,
            "workbench.job.notebook": relative}
    run = client.create_run(ensure_experiment(client, experiment), run_name=notebook.stem,
                            tags=tags)
    run_id = run.info.run_id
    try:
        log_params(client, run_id, values)
        where = settings()
        task = StepTask(pipeline="", step=notebook.stem, run_id=run_id,
                        tracking_uri=where.tracking_uri, auth=forwarded(), root=str(root),
                        notebook=relative,
                        function=None, params=values,
                        settings_env={"WORKBENCH_HOME": str(where.home),
                                      **({"WORKBENCH_ARTIFACT_ROOT": where.artifact_root}
                                         if where.artifact_root else {})})
        future = cluster().submit(run_step, task, key=f"notebook-job-{run_id}", pure=False)
    except BaseException:
        client.set_terminated(run_id, "FAILED")  # never a run left RUNNING that nothing runs
        raise
    with _lock:
        _running[run_id] = future
    future.add_done_callback(lambda _: _forget(run_id))
    return NotebookJob(run_id, relative, "RUNNING")


def _forget(run_id: str) -> None:
    with _lock:
        _running.pop(run_id, None)


def status(run_id: str) -> NotebookJob:
    """A job as the store records it (any process may ask: the store, not memory, knows)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    run = _job_run(client, run_id)
    executed = next((a.path for a in client.list_artifacts(run_id, "notebook")
                     if not a.is_dir), None) if run.info.status != "RUNNING" else None
    return NotebookJob(run_id, run.data.tags.get("workbench.job.notebook", ""),
                       run.info.status, run.data.tags.get("workbench.error"), executed)


def copy_executed(run_id: str, root: Path, folder: str = "executed") -> Path:
    """Write the job's executed notebook to `root/folder/STEM-RUNID8.ipynb` (Lab opens files
    inside its root); returns that path. The copy is written whole or not at all."""
    from workbench.files import write_atomically
    from workbench.runs import artifact_bytes

    job = status(run_id)
    if job.executed is None:
        raise ConfigError(f"job {run_id} has no executed notebook yet ({job.status}); open it "
                          "once the job has finished")
    data = artifact_bytes(run_id, job.executed)
    name = Path(job.executed).name
    target = root / folder / f"{Path(name).stem}-{run_id[:8]}{Path(name).suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(target, data.decode("utf-8"))


def _job_run(client: Any, run_id: str) -> Any:
    try:
        run = client.get_run(run_id)
    except Exception:
        raise LookupError(f"no job {run_id!r}; jobs are listed in the Workbench sidebar") \
            from None
    if run.data.tags.get("workbench.kind") != KIND:
        raise LookupError(f"run {run_id} is not a notebook job")
    return run
