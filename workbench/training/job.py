"""Handles on submitted work: `Job` (one run, possibly several DDP ranks) and `Sweep`."""

from __future__ import annotations

import contextlib
import html
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from workbench.errors import JobCancelled, JobFailed
from workbench.training.progress import (
    Bundle,
    ProgressBar,
    bar_html,
    format_metrics,
    in_marimo,
    marimo_wait,
)
from workbench.training.runner import mark_cancelled, progress_topic

if TYPE_CHECKING:
    from distributed import Client, Future
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

TERMINAL = {"FINISHED", "FAILED", "KILLED"}
FINAL_EVENT_WAIT_S = 2.0  # how long a finished job waits for its worker's last progress event


def wait_all(futures: list[Future], timeout: float | None) -> bool:
    """Wait for futures on their own client (not dask's default one); True if all are done."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in futures:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            future.result(timeout=remaining)
        except TimeoutError:
            return False
        except BaseException:  # failed or cancelled counts as done
            continue
    return True


CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class RunResult:
    run_id: str
    metrics: dict[str, float]
    model_uri: str | None
    model_error: str | None = None  # why a returned module was not logged (one line)

    def to_dict(self) -> dict[str, Any]:
        out = {"run_id": self.run_id, "metrics": dict(self.metrics), "model_uri": self.model_uri}
        if self.model_error:
            out["model_error"] = self.model_error
        return out


@dataclass
class _Progress:
    state: str = "pending"
    step: int = -1
    total: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    attempt: int = 1
    pid: int | None = None  # the worker process running rank 0


class Job:
    """A submitted training run. `.result()` waits for it; it shows progress while it runs."""

    def __init__(self, *, run_id: str, futures: list[Future], dask: Client,
                 tracking: MlflowClient, job_key: str, name: str, show_progress: bool = True,
                 on_done: Callable[[Job], None] | None = None,
                 kept_model: Future | None = None, rank_workers: list[str] | None = None) -> None:
        self.run_id = run_id
        self.name = name
        self._futures = futures
        # the task whose result still holds the returned model, for a sweep's later export
        self.kept_model = kept_model
        self._dask = dask
        self._tracking = tracking
        self._job_key = job_key
        self._progress = _Progress()
        self._lock = threading.Lock()
        self._final_event = threading.Event()  # the worker's last event (finished, failed, ...)
        self._on_done = on_done
        self._cancel_requested = False
        self._bar = ProgressBar(name, enabled=show_progress, render=self._bundle)
        dask.subscribe_topic(progress_topic(job_key), self._on_event)
        futures[0].add_done_callback(self._finished)
        self._ranks: RankWatch | None = None
        if len(futures) > 1:
            self._ranks = RankWatch(self, list(rank_workers or []))

    # -- state --------------------------------------------------------------------------------
    def status(self) -> str:
        """PENDING, RUNNING, FINISHED, FAILED or KILLED."""
        future = self._futures[0]
        if future.status == "finished":
            return "FINISHED"
        if self._cancel_requested and future.done():
            return "KILLED"
        if future.status == "cancelled":
            return "FAILED"  # dropped by the cluster, not by the user
        if future.status == "error":
            return "KILLED" if isinstance(future.exception(), JobCancelled) else "FAILED"
        return "RUNNING" if self._progress.state == "running" else "PENDING"

    def progress(self) -> dict[str, Any]:
        """The latest progress a worker reported: state, step, total, metrics, attempt, pid."""
        with self._lock:
            p = self._progress
            return {"state": p.state, "step": p.step, "total": p.total,
                    "metrics": dict(p.metrics), "attempt": p.attempt, "pid": p.pid}

    def done(self) -> bool:
        return all(f.done() for f in self._futures)

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run; re-raises the train function's exception with its traceback."""
        if in_marimo() and not self.done():
            marimo_wait(self._futures, self._describe, self._progress.total or 1, self.name)
        if self._ranks is not None:
            self._ranks.wait(timeout)
        try:
            value = self._wait_value(timeout)
        except BaseException:
            if self.done():
                self._show_final()  # a failed job's cell shows FAILED, not its last step
            raise
        self._show_final()
        if value.get("model_error"):
            log.warning("run %s: %s", self.run_id, value["model_error"])
        return RunResult(value["run_id"], dict(value["metrics"]), value["model_uri"],
                         value.get("model_error"))

    def _wait_value(self, timeout: float | None) -> Any:
        """What rank 0 returned; how it failed as one clear error."""
        from distributed.scheduler import KilledWorker

        try:
            value = self._futures[0].result(timeout=timeout)
            for other in self._futures[1:]:
                other.result(timeout=timeout)
            return value
        except KilledWorker as exc:
            raise JobFailed(f"run {self.run_id} failed: its worker died repeatedly ({exc}); "
                            "check the worker logs for out-of-memory kills") from None
        except CancelledError:
            if self._cancel_requested:
                raise JobCancelled(f"run {self.run_id} was cancelled") from None
            raise JobFailed(f"run {self.run_id} was dropped by the cluster before it finished "
                            "(a worker failed or the client lost the scheduler); check the "
                            "worker logs and run it again") from None

    def cancel(self, grace: float = CANCEL_GRACE_S) -> None:
        """Stop the run and mark it KILLED. The train function stops at its next ctx call."""
        self._cancel_requested = True
        self._dask.run(mark_cancelled, self._job_key, on_error="ignore")
        if self._progress.state == "running":
            wait_all(self._futures, timeout=grace)
        for future in self._futures:
            if not future.done():
                future.cancel()
        self.release_model()
        self._mark_terminal("KILLED")

    def release_model(self) -> None:
        """Let the worker drop the model this job kept for a later export."""
        if self.kept_model is not None:
            self.kept_model.release()
            self.kept_model = None

    # -- events -------------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        with self._lock:
            p = self._progress
            p.state = str(message.get("state", p.state))
            p.step = int(message.get("step", p.step))
            p.total = message.get("total") or p.total
            p.metrics = dict(message.get("metrics") or p.metrics)
            p.attempt = int(message.get("attempt", p.attempt))
            p.pid = message.get("pid", p.pid)
            snapshot = (p.step + 1, p.total, dict(p.metrics), p.state)
        if snapshot[3] in ("finished", "failed", "killed"):
            self._final_event.set()
        self._bar.update(*snapshot)

    def _finished(self, future: Future) -> None:
        # Runs on a dask callback thread once rank 0 is done, whether or not anyone waits.
        if future.status == "error" and not isinstance(future.exception(), JobCancelled):
            from distributed.scheduler import KilledWorker

            if isinstance(future.exception(), KilledWorker):
                self._mark_terminal("FAILED", note="worker died repeatedly")
        elif future.status == "cancelled":
            if self._cancel_requested:
                self._mark_terminal("KILLED")
            else:
                self._mark_terminal("FAILED", note="dropped by the cluster before it finished")
        self._bar.update(self._progress.step + 1, self._progress.total, self._progress.metrics,
                         self.status().lower())
        self._bar.close()
        with contextlib.suppress(Exception):  # the client may be closing
            self._dask.unsubscribe_topic(progress_topic(self._job_key))
        if self._on_done is not None:
            self._on_done(self)

    def _mark_terminal(self, status: str, note: str | None = None) -> None:
        try:
            run = self._tracking.get_run(self.run_id)
            if run.info.status not in TERMINAL:
                if note:
                    self._tracking.set_tag(self.run_id, "workbench.error", note)
                self._tracking.set_terminated(self.run_id, status)
        except Exception:
            log.warning("could not mark run %s %s", self.run_id, status, exc_info=True)

    def _describe(self) -> tuple[int, str]:
        p = self._progress
        return p.step + 1, format_metrics(p.metrics)

    # -- display ------------------------------------------------------------------------------
    def _show_final(self) -> None:
        """Publish the finished state from the waiting thread: a notebook runner (papermill)
        records only outputs that arrive while a cell runs, and the worker's last event may
        still be on its way when the result is."""
        self._final_event.wait(FINAL_EVENT_WAIT_S)  # so progress() agrees with the result
        if self._bar.live is not None:
            with contextlib.suppress(Exception):
                self._bar.live.refresh_now()

    def _bundle(self) -> Bundle:
        p = self.progress()
        status, done, total = self.status(), p["step"] + 1, p["total"]
        count = f"{done}/{total}" if total else str(done)
        metrics = format_metrics(p["metrics"])
        return {
            "text/plain": f"Job {self.name} run {self.run_id}: {status}, step {count} {metrics}"
                          .rstrip(),
            "text/html": f"<b>Job</b> {html.escape(self.name)} &middot; run "
                         f"<code>{html.escape(self.run_id)}</code> &middot; <b>{status}</b> "
                         f"&middot; step {count} {bar_html(done, total)} "
                         f"{html.escape(metrics)}",
        }

    def __repr__(self) -> str:
        return f"<Job {self.name} run_id={self.run_id} status={self.status()}>"

    def _repr_html_(self) -> str:
        return self._bundle()["text/html"]

    def _ipython_display_(self) -> None:
        # Jupyter: the job's live output. In the cell that started the job it is already
        # shown (the progress display), so `job` as the cell's last line adds nothing.
        if self._bar.live is not None:
            self._bar.live.show()
            return
        from IPython.display import display

        display(self._bundle(), raw=True)

    def _display_(self) -> Any:
        # marimo cannot update an output from a background thread: a snapshot, and where to
        # follow it live
        import marimo as mo

        follow = "" if self.done() else " &middot; <code>job.result()</code> follows it live"
        return mo.Html(self._repr_html_() + follow)


class Sweep:
    """A set of trial runs nested under one parent run."""

    def __init__(self, *, parent_run_id: str, jobs: list[Job], metric: str, mode: str,
                 tracking: MlflowClient, show_progress: bool = True,
                 log_models: str = "all") -> None:
        self.parent_run_id = parent_run_id
        self.jobs = jobs
        self.metric = metric
        self.mode = mode
        self.log_models = log_models
        self._tracking = tracking
        self._lock = threading.Lock()
        self._finished: set[str] = set()
        self._closed = False
        self._ended = threading.Event()  # the parent run is closed (after the best's export)
        self._exported: dict[str, Any] = {}  # the best trial's run_id, model_uri, model_error
        self._bar = ProgressBar(f"sweep {parent_run_id[:8]}", total=len(jobs), unit="trial",
                                enabled=show_progress)
        for job in jobs:
            job._on_done = self._trial_done
            if job.done():
                self._trial_done(job)

    def status(self) -> str:
        states = [job.status() for job in self.jobs]
        if all(s in TERMINAL for s in states):
            return "FINISHED" if any(s == "FINISHED" for s in states) else "FAILED"
        return "RUNNING" if any(s == "RUNNING" for s in states) else "PENDING"

    def result(self, timeout: float | None = None) -> list[RunResult]:
        """Results of the trials that finished; raises only if every trial failed."""
        if in_marimo() and not all(j.done() for j in self.jobs):
            marimo_wait([j._futures[0] for j in self.jobs], self._describe, len(self.jobs),
                        f"sweep {self.parent_run_id[:8]}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if not wait_all([job._futures[0] for job in self.jobs], timeout=timeout):
            raise TimeoutError(f"sweep {self.parent_run_id} not done within {timeout}s")
        results, errors = [], []
        for job in self.jobs:
            try:
                results.append(job.result())
            except Exception as exc:
                errors.append(exc)
        self._close()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._ended.wait(remaining):
            raise TimeoutError(f"sweep {self.parent_run_id}: the best model was not exported "
                               f"within {timeout}s")
        if self._bar.live is not None:  # the final count, from the waiting cell (papermill)
            with contextlib.suppress(Exception):
                self._bar.live.refresh_now()
        if not results and errors:
            raise errors[0]
        exported = self._exported
        return [replace(r, model_uri=exported["model_uri"], model_error=exported["model_error"])
                if r.run_id == exported.get("run_id") else r for r in results]

    def best(self) -> RunResult:
        best = self._best_of(self.result())
        if best is None:
            raise JobFailed(f"no trial of sweep {self.parent_run_id} logged metric "
                            f"{self.metric!r}; log it with ctx.log_metrics")
        return best

    def _best_of(self, results: list[RunResult]) -> RunResult | None:
        ranked = [r for r in results if self.metric in r.metrics]
        if not ranked:
            return None
        pick = min if self.mode == "min" else max
        return pick(ranked, key=lambda r: r.metrics[self.metric])

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel()
        self._close()

    def _trial_done(self, job: Job) -> None:
        with self._lock:
            self._finished.add(job.run_id)
            finished = len(self._finished)
        self._bar.update(finished, len(self.jobs), self._best_so_far())
        if self.log_models == "best":
            self._release_all_but_the_best()
        if finished == len(self.jobs):
            self._close()

    def _release_all_but_the_best(self) -> None:
        """Workers keep at most the model of the best trial so far (memory stays flat)."""
        done = {j.run_id: j for j in self.jobs if j._futures[0].status == "finished"}
        best = self._best_of([j.result() for j in done.values()])
        for run_id, job in done.items():
            if best is None or run_id != best.run_id:
                job.release_model()

    def _best_so_far(self) -> dict[str, float]:
        values = [j.progress()["metrics"].get(self.metric) for j in self.jobs if j.done()]
        values = [v for v in values if v is not None]
        if not values:
            return {}
        return {f"best_{self.metric}": (min if self.mode == "min" else max)(values)}

    def _describe(self) -> tuple[int, str]:
        return sum(j.done() for j in self.jobs), format_metrics(self._best_so_far())

    def _close(self) -> None:
        """Once every trial is done: export the best trial's model, then end the parent run."""
        with self._lock:
            if self._closed or not all(j.done() for j in self.jobs):
                return
            self._closed = True
        self._bar.close()
        try:
            finished = [j.result() for j in self.jobs if j._futures[0].status == "finished"]
            best = self._best_of(finished)
            job = next((j for j in self.jobs if best and j.run_id == best.run_id), None)
            if self.log_models == "best" and job is not None and job.kept_model is not None:
                from workbench.config import settings
                from workbench.tracking.credentials import forwarded
                from workbench.training.runner import export_model

                export = job._dask.submit(export_model, job.run_id, settings().tracking_uri,
                                          job.kept_model, forwarded(), pure=False,
                                          key=f"export-{job.run_id}")
                job.release_model()
                export.add_done_callback(lambda f: self._end_parent(best, f))
                return
        except Exception:
            log.warning("could not export the best model of sweep %s", self.parent_run_id,
                        exc_info=True)
            best = None
        self._end_parent(best, None)

    def _end_parent(self, best: RunResult | None, export: Future | None) -> None:
        states = [j.status() for j in self.jobs]
        try:
            if export is not None:
                if export.status == "finished":
                    self._exported = {"run_id": best.run_id if best else None,
                                      **export.result()}
                else:
                    error = f"exporting the best model failed: {export.exception()}"
                    self._exported = {"run_id": best.run_id if best else None,
                                      "model_uri": None, "model_error": error}
                    log.warning("sweep %s: %s", self.parent_run_id, error)
            if best is not None:
                self._tracking.set_tag(self.parent_run_id, "workbench.best_run_id", best.run_id)
                self._tracking.log_metric(self.parent_run_id, f"best_{self.metric}",
                                          best.metrics[self.metric])
            if self._exported.get("model_uri"):
                self._tracking.set_tag(self.parent_run_id, "workbench.best_model_uri",
                                       self._exported["model_uri"])
            self._tracking.set_tag(self.parent_run_id, "workbench.failed_trials",
                                   str(sum(s != "FINISHED" for s in states)))
            status = "FINISHED" if "FINISHED" in states else "FAILED"
            if all(s == "KILLED" for s in states):
                status = "KILLED"
            self._tracking.set_terminated(self.parent_run_id, status)
        except Exception:
            log.warning("could not close sweep run %s", self.parent_run_id, exc_info=True)
        finally:
            self._ended.set()

    def __repr__(self) -> str:
        return f"<Sweep {self.parent_run_id} trials={len(self.jobs)} status={self.status()}>"


RANK_POLL_S = 0.5
PEER_GRACE_S = 3.0  # after a rank fails, how long to look for a dead worker behind it


class RankWatch:
    """Watches the ranks of a DDP job so that no rank ends up waiting forever for the others.

    A rank pinned to a worker that died cannot be rescheduled (its peers hold the process
    group), and the surviving ranks would block in their next collective (NCCL) or fail with a
    bare "connection closed" (gloo). Whichever happens first, a rank's worker leaving the
    cluster or a rank failing, ends the whole job: the other ranks are cancelled and the run is
    FAILED with a one-line reason naming the rank.
    """

    def __init__(self, job: Job, workers: list[str]) -> None:
        self._job = job
        self._workers = workers
        self.failure: JobFailed | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name=f"workbench-ranks-{job.run_id[:8]}",
                         daemon=True).start()

    def wait(self, timeout: float | None) -> None:
        if not self._done.wait(timeout):
            raise TimeoutError(f"run {self._job.run_id} not done within {timeout}s")
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        futures = self._job._futures
        failed_at = None
        try:
            while not all(f.done() for f in futures):
                dead = self._dead_rank()
                if dead is not None:
                    rank, address = dead
                    self._fail(f"run {self._job.run_id} failed: rank {rank}'s dask worker "
                               f"{address} died (its process exited); the other ranks were "
                               "stopped; check that worker's log (an out-of-memory kill?) and "
                               "run it again")
                    return
                if any(f.status in ("error", "cancelled") for f in futures):
                    failed_at = failed_at or time.monotonic()
                    if time.monotonic() - failed_at > PEER_GRACE_S:
                        break  # a rank raised: the others cannot go on without it
                time.sleep(RANK_POLL_S)
        except Exception:
            log.debug("rank watch of run %s stopped", self._job.run_id, exc_info=True)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
            if self.failure is not None:
                self._name_the_cause(futures)
            self._done.set()

    def _name_the_cause(self, futures: list[Future]) -> None:
        """Write the dead rank's reason again once rank 0 has ended: a rank that failed in a
        collective at the same moment may have recorded gloo's message over ours."""
        deadline = time.monotonic() + PEER_GRACE_S
        while not futures[0].done() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(Exception):
            self._job._tracking.set_tag(self._job.run_id, "workbench.error",
                                        str(self.failure)[:500])

    def _dead_rank(self) -> tuple[int, str] | None:
        from workbench.dask_cluster import live_workers

        alive = set(live_workers(self._job._dask))
        for rank, (future, address) in enumerate(zip(self._job._futures, self._workers,
                                                     strict=False)):
            if (not future.done() or future.status == "error") and address not in alive:
                return rank, address
        return None

    def _fail(self, message: str) -> None:
        self.failure = JobFailed(message)
        tracking = self._job._tracking
        try:
            tracking.set_tag(self._job.run_id, "workbench.error", message[:500])
            if tracking.get_run(self._job.run_id).info.status not in TERMINAL:
                tracking.set_terminated(self._job.run_id, "FAILED")
        except Exception:
            log.warning("could not mark run %s failed", self._job.run_id, exc_info=True)
