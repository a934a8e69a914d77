"""The retraining cooldown of a model: a rolling window since its last retraining started, kept
in the tracking store every monitor shares (not in a host's WORKBENCH_HOME).

A retraining is a run in the `workbench-retraining` experiment, started (on the store's clock)
by the holder of the model's lease `workbench.retrain.MODEL`, who heart-beats it while the
pipeline runs and records the end (finished / failed) before deleting the lease. A new
retraining may start when no live holder runs one and no retraining that finished (or still
runs) started within the cooldown; a failed one does not use the window up. A holder that
stopped heart-beating is taken over and its retraining recorded as failed.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.tracking.leases import Lease

EXPERIMENT = "workbench-retraining"
KIND = "retraining"
LEASE = "workbench.retrain."
_MODEL, _STATE, _STARTED = "workbench.model", "workbench.retraining.state", \
    "workbench.retraining.started_ms"


@dataclass
class Retraining:
    """A retraining this process holds: run it inside `running()`, then `end(...)`."""

    client: MlflowClient
    lease: Lease
    run_id: str
    started_ms: int
    heartbeat_s: float

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self.lease.heartbeat(self.heartbeat_s):
            yield

    def end(self, state: str, **tags: str) -> None:
        """`state` finished or failed; recorded before the lease is deleted, so whoever claims
        next sees it."""
        try:
            if self.lease.beat():  # still ours: a taker-over has recorded us failed already
                for key, value in {**tags, _STATE: state}.items():
                    self.client.set_tag(self.run_id, key, value[:5000])
                self.client.set_terminated(self.run_id,
                                           "FINISHED" if state == "finished" else "FAILED")
        finally:
            with contextlib.suppress(Exception):
                self.lease.release()


def claim(client: MlflowClient, model: str, *, cooldown_hours: float,
          now_ms: int | None = None, heartbeat_s: float | None = None,
          stale_s: float | None = None) -> Retraining | str:
    """Start `model`'s retraining, or say (one line) why not: one runs, or one started
    within the cooldown."""
    from workbench.tracking import leases
    from workbench.tracking.store import ensure_experiment

    beat, stale = leases.timing(heartbeat_s, stale_s)
    now = now_ms if now_ms is not None else leases.store_now_ms(client)
    experiment_id = ensure_experiment(client, EXPERIMENT)
    busy = _within_window(client, experiment_id, model, now, cooldown_hours)
    if busy:
        return busy
    name = LEASE + model.replace("/", "_")
    lease = leases.claim(client, name, kind="retraining", meta={_MODEL: model})
    if lease is None:
        info = leases.read(client, name)
        if info is not None and info.age_s <= stale:
            return (f"a retraining of {model} is running on {info.holder} (within the "
                    f"{cooldown_hours:g} h cooldown)")
        lease = leases.take_over(client, name, stale_token=info.token, meta={_MODEL: model}) \
            if info is not None else leases.claim(client, name, kind="retraining",
                                                  meta={_MODEL: model})
        if lease is None:
            return f"another monitor is starting a retraining of {model} (cooldown)"
    try:
        for dead in _records(client, experiment_id, model, "running"):  # we hold the lease
            client.set_tag(dead.info.run_id, _STATE, "failed")
            client.set_tag(dead.info.run_id, "workbench.error",
                           "its monitor stopped heart-beating; taken over")
            client.set_terminated(dead.info.run_id, "FAILED")
        busy = _within_window(client, experiment_id, model, now, cooldown_hours)
        if busy:  # one finished between our first look and our claim
            lease.release()
            return busy
        run = client.create_run(experiment_id, run_name=f"retrain {model}", tags={
            "workbench.kind": KIND, _MODEL: model, _STATE: "running", _STARTED: str(now),
            "workbench.lease.holder": leases.holder()})
    except BaseException:
        lease.release()
        raise
    return Retraining(client, lease, run.info.run_id, now, beat)


def as_datetime(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


def _within_window(client: MlflowClient, experiment_id: str, model: str, now_ms: int,
                   cooldown_hours: float) -> str:
    window_ms = cooldown_hours * 3600 * 1000
    for run in _records(client, experiment_id, model, "finished"):
        started = int(run.data.tags.get(_STARTED, "0"))
        if now_ms - started < window_ms:
            again = as_datetime(int(started + window_ms)).isoformat(timespec="seconds")
            return (f"retraining already started within the {cooldown_hours:g} h cooldown "
                    f"(at {as_datetime(started).isoformat(timespec='seconds')}; next after "
                    f"{again})")
    return ""


def _records(client: MlflowClient, experiment_id: str, model: str, state: str) -> list[Any]:
    from workbench.tracking.store import filter_literal

    return list(client.search_runs(
        [experiment_id], max_results=20, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.`{_MODEL}` = {filter_literal(model)} and "
                      f"tags.`{_STATE}` = '{state}'"))


def drift_retrainings(model: str, *, limit: int = 200) -> list[dict[str, Any]]:
    """`model`'s retrainings started by drift, oldest first: when each started (the store's
    clock), its state (running / finished / failed), the pipeline run and the drift check."""
    from workbench.tracking.store import filter_literal, read_client

    client = read_client()
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    runs = client.search_runs(
        [found.experiment_id], max_results=limit, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.`{_MODEL}` = {filter_literal(model)} and "
                      f"tags.`workbench.kind` = '{KIND}'")
    rows = []
    for run in runs:
        tags = run.data.tags
        started = int(tags.get(_STARTED) or run.info.start_time or 0)
        rows.append({"started": as_datetime(started), "state": tags.get(_STATE, "unknown"),
                     "pipeline_run_id": tags.get("workbench.pipeline_run"),
                     "check_run_id": tags.get("workbench.check_run"),
                     "error": tags.get("workbench.error"), "run_id": run.info.run_id})
    return sorted(rows, key=lambda row: row["started"])
