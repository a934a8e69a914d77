"""The worker side of a run: set up, call the user's function, record the outcome.

Runs inside a dask task. Rank 0 owns the MLflow run (metrics writer, model, final status);
other DDP ranks only train. Nothing here runs on the client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import JobCancelled

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.25


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one rank of one run. Picklable."""

    run_id: str
    tracking_uri: str
    auth: dict[str, str]  # the submitter's tracking login (tracking.credentials)
    fn: Callable[..., Any] | str
    params: dict[str, Any]
    seed: int
    job_key: str  # names the cancel event and the progress topic
    rank: int = 0
    world_size: int = 1
    rendezvous: tuple[str, int] | None = None
    register: str | None = None
    torch_threads: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # MLflow re-loads a logged model to check its input example (~0.2 s CPU); a sweep skips it
    # per trial: the export already ran the example, and on busy cores it is time trials lose.
    validate_model: bool = True
    start_timeout_s: float = 120.0  # DDP: how long a rank waits for its peers to be placed
    # What happens to a returned module: "log" it now; "keep" it in the task's result for a
    # later `export_model` task (a sweep exports only its best trial's); "skip" it.
    model: str = "log"
    target: str | None = None  # the data's target column, left out of an inferred input example


# Job keys the client cancelled, pushed into every worker process with Client.run: the
# heartbeat reads a local set instead of asking the scheduler four times a second.
_CANCELLED: set[str] = set()


def mark_cancelled(job_key: str) -> None:
    _CANCELLED.add(job_key)


def progress_topic(job_key: str) -> str:
    return f"{job_key}-progress"


def run_trial(spec: TrialSpec, data: Any = None) -> dict[str, Any]:
    import mlflow
    import torch

    from workbench.tracking.sinks import mlflow_sink, persisted_steps
    from workbench.tracking.sql_sink import sql_bulk_sink
    from workbench.tracking.store import tracking_client
    from workbench.tracking.writer import MetricWriter
    from workbench.training.context import TrainContext
    from workbench.training.model_export import FirstInputs
    from workbench.training.spec import resolve_function

    client = tracking_client(spec.tracking_uri, spec.auth)
    _seed_everything(spec.seed)
    if spec.torch_threads:
        torch.set_num_threads(spec.torch_threads)
    device = _device()
    main = spec.rank == 0
    writer = None
    attempt = 1
    if main:
        run = client.get_run(spec.run_id)
        attempt = int(run.data.tags.get("workbench.attempt", "0")) + 1
        client.set_tag(spec.run_id, "workbench.attempt", str(attempt))
        mlflow.start_run(run_id=spec.run_id)  # thread-local: lets fn call mlflow.log_* too
        sink = sql_bulk_sink(client, spec.tracking_uri, spec.run_id,
                             fallback=mlflow_sink(client, spec.run_id))
        writer = MetricWriter(
            sink,
            persisted_steps=persisted_steps(client, spec.run_id) if attempt > 1 else None,
        )
    cancelled = threading.Event()
    ctx = TrainContext(run_id=spec.run_id, params=spec.params, data=data, device=device,
                       seed=spec.seed, rank=spec.rank, world_size=spec.world_size, client=client,
                       writer=writer, cancelled=cancelled)
    heartbeat = _Heartbeat(spec.job_key, ctx, writer, cancelled, attempt)
    heartbeat.start()
    status = "FAILED"
    try:
        if spec.world_size > 1:
            _wait_for_every_rank(spec)
            _init_process_group(spec, device)
        fn = resolve_function(spec.fn)
        recorder = FirstInputs() if main else None  # the example of a model logged by rank 0
        with recorder or contextlib.nullcontext():
            returned = fn(ctx)
        ctx.close()  # the last checkpoint is stored (or its failure raised) before success
        outcome: dict[str, Any] = {"run_id": spec.run_id, "model_uri": None, "model_error": None}
        if main and isinstance(returned, torch.nn.Module) and spec.model != "skip":
            outcome.update(_model_outcome(returned, ctx, recorder, spec, client))
        if spec.world_size > 1:
            torch.distributed.barrier()
        status = "FINISHED"
        outcome["metrics"] = dict(writer.stats.latest) if writer else {}
        return outcome
    except JobCancelled:
        status = "KILLED"
        raise
    except BaseException as exc:
        if main:
            _record_error(client, spec.run_id, exc)
        raise
    finally:
        try:
            ctx.close()
        except Exception:
            log.warning("last checkpoint of run %s not stored", spec.run_id, exc_info=True)
        heartbeat.stop(status)
        if spec.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if main:
            try:
                if writer is not None:
                    writer.close()  # every queued point reaches the store before the status
            except Exception as exc:
                status = "FAILED"  # metrics did not all land: never report such a run finished
                raise _kept_unwritten(writer, spec.run_id, exc) from exc
            finally:
                if ctx.resumed_from is not None:
                    client.set_tag(spec.run_id, "workbench.resumed_from_checkpoint",
                                   str(ctx.resumed_from))
                mlflow.end_run(status)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _device() -> Any:
    import torch

    if torch.cuda.is_available():
        # dask-cuda puts this worker's GPU first in CUDA_VISIBLE_DEVICES
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _wait_for_every_rank(spec: TrialSpec) -> None:
    """Start the process group only once every rank runs on its worker.

    A rank queued behind other work on its worker would leave the others blocked inside the
    process group's rendezvous for its whole timeout; here they give up after
    `start_timeout_s`, with a reason.
    """
    from distributed import Event

    from workbench.errors import JobFailed

    started = [Event(f"{spec.job_key}-started-{rank}") for rank in range(spec.world_size)]
    given_up = Event(f"{spec.job_key}-gave-up")
    started[spec.rank].set()
    deadline = time.monotonic() + spec.start_timeout_s
    for rank, event in enumerate(started):
        if not event.wait(max(0.0, deadline - time.monotonic())):
            given_up.set()
            raise JobFailed(
                f"rank {rank} of run {spec.run_id} did not start within "
                f"{spec.start_timeout_s:g} s: its dask worker is busy with other tasks or gone; "
                "free or add workers, or raise WORKBENCH_DDP_START_TIMEOUT_S")
    if given_up.is_set():
        raise JobFailed(f"another rank of run {spec.run_id} gave up waiting for its peers")


def _init_process_group(spec: TrialSpec, device: Any) -> None:
    import datetime

    import torch.distributed as dist

    assert spec.rendezvous is not None
    host, port = spec.rendezvous
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method=f"tcp://{host}:{port}",
                            rank=spec.rank, world_size=spec.world_size,
                            timeout=datetime.timedelta(minutes=5))


def _model_outcome(returned: Any, ctx: Any, recorder: Any, spec: TrialSpec,
                   client: Any) -> dict[str, Any]:
    """Log the returned module (or keep it for a later export); a one-line reason if not."""
    from workbench.training import model_export

    try:
        bundle = model_export.prepare(model_export.unwrap(returned), explicit=ctx.input_example,
                                      recorded=recorder, data=ctx._data, target=spec.target)
        if spec.model == "keep":
            return {"model": bundle}
        return {"model_uri": model_export.log_model(bundle, register=spec.register,
                                                    validate=spec.validate_model)}
    except model_export.ModelNotExportable as exc:
        if spec.register:
            raise  # the caller asked for a registered model: the run cannot succeed without it
        log.warning("%s", exc)
        client.set_tag(spec.run_id, "workbench.model_error", str(exc)[:500])
        return {"model_error": str(exc)}


def export_model(run_id: str, tracking_uri: str, trial: dict[str, Any],
                 auth: dict[str, str] | None = None) -> dict[str, Any]:
    """Log the model a finished trial kept (`TrialSpec.model="keep"`) into its run."""
    import mlflow

    from workbench.tracking.store import tracking_client
    from workbench.training import model_export

    bundle = trial.get("model")
    if bundle is None:
        return {"model_uri": None, "model_error": trial.get("model_error")}
    client = tracking_client(tracking_uri, auth)
    try:
        with mlflow.start_run(run_id=run_id):  # reopens the finished trial run, ends it FINISHED
            return {"model_uri": model_export.log_model(bundle, register=None, validate=False),
                    "model_error": None}
    except model_export.ModelNotExportable as exc:
        client.set_tag(run_id, "workbench.model_error", str(exc)[:500])
        return {"model_uri": None, "model_error": str(exc)}


def without_model(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial's result minus the kept model: what the client fetches."""
    return {k: v for k, v in trial.items() if k != "model"}


def _kept_unwritten(writer: Any, run_id: str, exc: Exception) -> Exception:
    """The points the store never got, kept in a file on this host: the error says how many,
    where, and how to write them once the store is back."""
    from workbench.tracking import unwritten

    points = writer.unwritten() if writer is not None else []
    if not points:
        return exc
    where = unwritten.keep(points, run_id)
    return RuntimeError(f"{exc}: the tracking store did not take {len(points)} metric points "
                        f"of run {run_id}; they are kept in {where}: once the store is back, "
                        f"run `workbench replay-metrics {where.partition(':')[2]}` there")


def _record_error(client: Any, run_id: str, exc: BaseException) -> None:
    try:
        text = "".join(traceback.format_exception(exc))
        client.log_text(run_id, text, "error/traceback.txt")
        # The client's rank watch may already have named the cause (a peer's worker died):
        # a rank failing in its next collective must not replace that with gloo's message.
        if "workbench.error" not in client.get_run(run_id).data.tags:
            client.set_tag(run_id, "workbench.error", f"{type(exc).__name__}: {exc}"[:500])
    except Exception:
        log.warning("could not record the error of run %s", run_id, exc_info=True)


class _Heartbeat:
    """Publishes progress to the client and watches for cancellation, off the training thread."""

    def __init__(self, job_key: str, ctx: Any, writer: Any, cancelled: threading.Event,
                 attempt: int) -> None:
        self._job_key = job_key
        self._ctx = ctx
        self._writer = writer
        self._cancelled = cancelled
        self._attempt = attempt
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-heartbeat", daemon=True)
        self._worker = self._connect()

    def _connect(self) -> Any:
        try:
            from distributed import get_worker

            return get_worker()
        except Exception:  # not inside a dask worker (e.g. called in-process)
            return None

    def start(self) -> None:
        self._publish("running")
        self._thread.start()

    def stop(self, status: str) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._publish(status.lower())

    def _run(self) -> None:
        last = None
        while not self._stopped.wait(HEARTBEAT_S):
            if self._job_key in _CANCELLED:
                self._cancelled.set()
            stats = self._writer.stats if self._writer else None
            stamp = (stats.latest_step, self._ctx.total_steps) if stats else None
            if stamp != last:
                last = stamp
                self._publish("running")

    def _publish(self, state: str) -> None:
        if self._worker is None or self._ctx.rank != 0:
            return
        stats = self._writer.stats if self._writer else None
        message = {
            "run_id": self._ctx.run_id,
            "state": state,
            "step": stats.latest_step if stats else -1,
            "total": self._ctx.total_steps,
            "metrics": dict(stats.latest) if stats else {},
            "attempt": self._attempt,
            "pid": os.getpid(),
        }
        try:
            self._worker.log_event(progress_topic(self._job_key), message)
        except Exception:
            log.debug("progress publish failed", exc_info=True)
