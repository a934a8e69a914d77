"""The history of scheduled slots, kept in the tracking store every scheduler shares.

Each slot a scheduler claimed is one MLflow run in the `workbench-scheduler` experiment, tagged
with its pipeline and slot; its `state` says what happened: running, ran, failed, interrupted
(its scheduler was stopped: the slot is due again), skipped (a newer slot superseded it before
it could finish). A slot taken over from a scheduler that stopped heart-beating names that
scheduler in `taken_over_from`. The pipeline runs a slot started carry the record's id, so a
scheduler taking over can end the dead holder's run KILLED.

Records are written by the holder of the pipeline's schedule lease only, and always before
the lease is deleted: whoever claims the lease next sees what happened.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "workbench-scheduler"
KIND = "schedule-slot"
FINAL = ("ran", "failed", "skipped")  # a slot in one of these states never runs again
RECORD_TAG = "workbench.slot.record"  # on pipeline runs: the slot record that started them
SLOT_TAG = "workbench.slot"
_P = "workbench.pipeline"
_STATE, _HOLDER, _TAKEN = "workbench.slot.state", "workbench.slot.holder", \
    "workbench.slot.taken_over_from"
_RUN, _ERROR, _BY, _EVENTS = "workbench.slot.pipeline_run", "workbench.slot.error", \
    "workbench.slot.superseded_by", "workbench.slot.events"
_STATUS = {"ran": "FINISHED", "failed": "FAILED", "skipped": "KILLED"}


def slot_key(slot: datetime.datetime) -> str:
    return slot.astimezone(datetime.UTC).isoformat()


@dataclass
class SlotRecord:
    run_id: str
    pipeline: str
    slot: str
    state: str
    holder: str = ""
    taken_over_from: str = ""
    pipeline_run: str = ""
    error: str = ""
    superseded_by: str = ""
    events: str = ""

    @property
    def what(self) -> str:
        """What happened, in words: `taken over from host:123, ran`."""
        done = {"ran": "ran", "failed": f"failed: {self.error}",
                "skipped": f"skipped: superseded by the slot of {self.superseded_by}",
                "interrupted": f"interrupted on {self.holder}; due again",
                "running": f"running on {self.holder}"}.get(self.state, self.state)
        return f"taken over from {self.taken_over_from}, {done}" if self.taken_over_from \
            else done

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in vars(self).items() if k != "events"}, "what": self.what,
                "events": [e for e in self.events.split("; ") if e]}


class SlotBook:
    """Slot records of one store."""

    def __init__(self, client: MlflowClient) -> None:
        from workbench.tracking.store import ensure_experiment

        self.client = client
        self.experiment_id = ensure_experiment(client, EXPERIMENT)

    def find(self, pipeline: str, slot: str) -> SlotRecord | None:
        found = self._search(f"{_eq(_P, pipeline)} and {_eq(SLOT_TAG, slot)}", 1)
        return found[0] if found else None

    def history(self, pipeline: str, limit: int = 5) -> list[SlotRecord]:
        """The pipeline's slots, newest first."""
        return sorted(self._search(_eq(_P, pipeline), max(limit * 2, 10)),
                      key=lambda r: r.slot, reverse=True)[:limit]

    def unfinished(self, pipeline: str) -> list[SlotRecord]:
        return [r for r in self._search(
            f"{_eq(_P, pipeline)} and attributes.status = 'RUNNING'", 100)
            if r.state not in FINAL]

    def open(self, pipeline: str, slot: str, holder: str, taken_over_from: str = ""
             ) -> SlotRecord:
        """The record of `slot` (created if new), now running on `holder`."""
        record = self.find(pipeline, slot)
        if record is None:
            run = self.client.create_run(
                self.experiment_id, run_name=f"{pipeline} {slot}",
                tags={"workbench.kind": KIND, _P: pipeline, SLOT_TAG: slot})
            record = SlotRecord(run.info.run_id, pipeline, slot, "running")
        event = f"taken over by {holder} from {taken_over_from}" if taken_over_from \
            else f"claimed by {holder}"
        record.events = "; ".join([e for e in (record.events, event) if e])[-4000:]
        record.state, record.holder = "running", holder
        if taken_over_from:
            record.taken_over_from = taken_over_from
        self._write(record)
        return record

    def close(self, record: SlotRecord, state: str, **fields: str) -> None:
        """`state` is ran, failed, skipped (the record ends) or interrupted (due again)."""
        for key, value in fields.items():
            setattr(record, key, value)
        record.state = state
        record.pipeline_run = self._pipeline_run(record) or record.pipeline_run
        record.events = f"{record.events}; {state}"[-4000:]
        self._write(record)
        if state in _STATUS:
            self.client.set_terminated(record.run_id, _STATUS[state])

    def kill_attempts(self, record: SlotRecord, why: str) -> None:
        """End KILLED the pipeline runs (and their steps) a dead holder left RUNNING."""
        experiment = self.client.get_experiment_by_name(f"pipeline-{record.pipeline}")
        if experiment is None:
            return
        runs = self.client.search_runs(
            [experiment.experiment_id], max_results=100,
            filter_string=f"{_eq(RECORD_TAG, record.run_id)} and attributes.status = 'RUNNING'")
        for run in runs:
            steps = self.client.search_runs(
                [experiment.experiment_id], max_results=1000,
                filter_string=f"{_eq('mlflow.parentRunId', run.info.run_id)} and "
                              "attributes.status = 'RUNNING'")
            for stale in [*steps, run]:
                self.client.set_tag(stale.info.run_id, "workbench.error", why)
                self.client.set_terminated(stale.info.run_id, "KILLED")

    def _pipeline_run(self, record: SlotRecord) -> str:
        experiment = self.client.get_experiment_by_name(f"pipeline-{record.pipeline}")
        if experiment is None:
            return ""
        runs = self.client.search_runs([experiment.experiment_id], max_results=1,
                                       filter_string=_eq(RECORD_TAG, record.run_id),
                                       order_by=["attributes.start_time DESC"])
        return str(runs[0].info.run_id) if runs else ""

    def _write(self, record: SlotRecord) -> None:
        from mlflow.entities import RunTag

        tags = {_STATE: record.state, _HOLDER: record.holder, _TAKEN: record.taken_over_from,
                _RUN: record.pipeline_run, _ERROR: record.error[:500],
                _BY: record.superseded_by, _EVENTS: record.events}
        self.client.log_batch(record.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _search(self, where: str, limit: int) -> list[SlotRecord]:
        runs = self.client.search_runs(
            [self.experiment_id], max_results=limit,
            filter_string=f"{_eq('workbench.kind', KIND)} and {where}",
            order_by=["attributes.start_time DESC"])
        return [_record(run) for run in runs]


def _record(run: Any) -> SlotRecord:
    tags = run.data.tags
    return SlotRecord(run.info.run_id, tags.get(_P, ""), tags.get(SLOT_TAG, ""),
                      tags.get(_STATE, "running"), tags.get(_HOLDER, ""), tags.get(_TAKEN, ""),
                      tags.get(_RUN, ""), tags.get(_ERROR, ""), tags.get(_BY, ""),
                      tags.get(_EVENTS, ""))


def _eq(tag: str, value: str) -> str:
    from workbench.tracking.store import filter_literal

    return f"tags.`{tag}` = {filter_literal(value)}"
