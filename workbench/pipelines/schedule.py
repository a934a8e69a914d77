"""Schedules: cron slots run exactly once, by any number of schedulers sharing one store.

A pipeline's schedule lives in its spec (`schedule:`, `schedule_since:`). Every tick a
scheduler looks at each pipeline's newest slot at or before now; a slot missed while no
scheduler ran is run once at the next start (only the newest: a week of downtime does not start
seven runs). To run a slot, a scheduler holds the pipeline's lease in the tracking store
(`workbench.schedule.NAME`, see `workbench.tracking.leases`), so schedulers on other hosts or
with other `WORKBENCH_HOME`s never run it too, and one pipeline never overlaps itself; it
heart-beats while the slot runs. A lease whose heartbeat is older than the stale threshold
belongs to a scheduler that died: it is taken over, the dead holder's pipeline run is ended
KILLED and the slot runs again to completion. What happened is kept in `slots` (a run per
slot) before the lease is deleted. Each slot runs in a thread of its own: a long pipeline
does not delay other pipelines' slots.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.files import write_atomically
from workbench.pipelines.slots import FINAL, RECORD_TAG, SLOT_TAG, SlotBook, SlotRecord, slot_key
from workbench.pipelines.spec import PipelineSpec, load_spec
from workbench.project import PIPELINES_DIR

log = logging.getLogger(__name__)
UTC = datetime.UTC


def set_schedule(name: str, cron: str, *, root: Path,
                 now: datetime.datetime | None = None) -> PipelineSpec:
    """Write `schedule: CRON` into pipelines/NAME.yaml (other lines and comments kept)."""
    from croniter import croniter

    from workbench.pipelines.execute import spec_path

    if not croniter.is_valid(cron):
        raise ConfigError(f"{cron!r} is not a cron expression, e.g. '0 3 * * *' (03:00 UTC)")
    path = spec_path(name, root)
    since = (now or datetime.datetime.now(UTC)).isoformat(timespec="seconds")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not re.match(r"^(schedule|schedule_since):", line)]
    lines += [f"schedule: {json.dumps(cron)}", f"schedule_since: {json.dumps(since)}"]
    write_atomically(path, "\n".join(lines) + "\n", check=load_spec)
    return load_spec(path)


def next_run(spec: PipelineSpec, now: datetime.datetime) -> datetime.datetime | None:
    from croniter import croniter

    if not spec.schedule:
        return None
    return croniter(spec.schedule, now).get_next(datetime.datetime)


def due_slot(spec: PipelineSpec, now: datetime.datetime) -> datetime.datetime | None:
    """The newest slot at or before `now` (not before the schedule was set), if any."""
    from croniter import croniter

    if not spec.schedule:
        return None
    slot: datetime.datetime = croniter(spec.schedule, now + datetime.timedelta(seconds=1)
                                       ).get_prev(datetime.datetime)
    since = datetime.datetime.fromisoformat(spec.schedule_since) if spec.schedule_since \
        else None
    return None if since is not None and slot < since else slot


LEASE = "workbench.schedule."


class Scheduler:
    """One scheduler process. `tick()` starts what is due; `serve()` ticks until stopped;
    `shutdown()` stops the slots running here (they end interrupted, due again)."""

    def __init__(self, root: Path,
                 run: Callable[[str, datetime.datetime, threading.Event, dict[str, str]],
                               Any] | None = None, *,
                 heartbeat_s: float | None = None, stale_s: float | None = None) -> None:
        self.root = root
        self._run = run or self._run_pipeline
        from workbench.tracking.leases import timing

        self.heartbeat_s, self.stale_s = timing(heartbeat_s, stale_s)
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.outcomes: dict[tuple[str, str], SlotRecord] = {}  # slots run here, as they ended

    def tick(self, now: datetime.datetime | None = None, *, wait: bool = False
             ) -> list[tuple[str, str]]:
        """Start every due slot no one runs; returns (pipeline, slot) for each started here."""
        from workbench.tracking.store import tracking_client

        now = now or datetime.datetime.now(UTC)
        book = SlotBook(tracking_client())
        started = []
        for path in sorted((self.root / PIPELINES_DIR).glob("*.yaml")):
            if self._stop.is_set():
                break  # stopping: start nothing more
            try:
                spec = load_spec(path)
            except ConfigError as exc:
                log.warning("skipping %s: %s", path.name, exc)
                continue
            slot = due_slot(spec, now)
            running = self._threads.get(spec.name)
            if slot is None or (running is not None and running.is_alive()):
                continue  # a pipeline never overlaps itself
            if self._start(book, spec.name, slot_key(slot)):
                started.append((spec.name, slot_key(slot)))
        if wait:
            self.wait()
        return started

    def wait(self) -> None:
        for thread in list(self._threads.values()):
            thread.join()

    @property
    def stopping(self) -> bool:
        """`shutdown()` was called, or a signal asked for it (`stop_on_signals`)."""
        return self._stop.is_set()

    def stop_on_signals(self) -> None:
        """Ctrl-C and SIGTERM stop this scheduler between store calls (see workbench.service)."""
        from workbench.service import stop_on_signals

        stop_on_signals(self._stop)

    def serve(self, interval_s: float = 30.0, stop: Callable[[], bool] = lambda: False) -> None:
        try:
            while not stop() and not self._stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # the store hiccupped: the next tick tries again
                    log.warning("tick failed: %s", str(exc).splitlines()[0] if str(exc)
                                else type(exc).__name__)
                if self._stop.wait(interval_s):
                    return
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the slots running here: their steps end KILLED, the slots interrupted (due
        again: the next scheduler to tick runs them) and their leases released."""
        self._stop.set()
        self.wait()

    def _start(self, book: SlotBook, pipeline: str, slot: str) -> bool:
        from workbench.tracking import leases

        record = book.find(pipeline, slot)
        if record is not None and record.state in FINAL:
            return False
        name, meta = LEASE + pipeline, {SLOT_TAG: slot}
        lease = leases.claim(book.client, name, kind="schedule", meta=meta)
        dead = ""
        if lease is None:
            info = leases.read(book.client, name)
            if info is None or info.age_s <= self.stale_s:
                return False  # released just now (next tick), or a live holder runs a slot
            lease = leases.take_over(book.client, name, stale_token=info.token, meta=meta)
            if lease is None:
                return False  # another scheduler took it over first
            dead = info.holder
            log.info("%s stopped heart-beating %.0fs ago; taking over %s", dead, info.age_s,
                     pipeline)
        try:
            record = book.find(pipeline, slot)
            if record is not None and record.state in FINAL:  # ended just before our claim
                lease.release()
                return False
            me = leases.holder()
            for old in book.unfinished(pipeline):  # we hold the lease: their holders are gone
                book.kill_attempts(old, f"its scheduler {old.holder} stopped; the slot was "
                                        f"taken over by {me}")
                if old.slot != slot:
                    book.close(old, "skipped", superseded_by=slot)
            was_running = record is not None and record.state == "running"
            record = book.open(pipeline, slot, me, dead if was_running else "")
        except BaseException:
            lease.release()
            raise
        thread = threading.Thread(target=self._hold, args=(book, lease, record),
                                  name=f"slot {pipeline} {slot}", daemon=True)
        self._threads[pipeline] = thread
        thread.start()
        return True

    def _hold(self, book: SlotBook, lease: Any, record: SlotRecord) -> None:
        """Run the slot while heart-beating its lease; record the end, then release."""
        from workbench.pipelines.execute import PipelineInterrupted

        slot = datetime.datetime.fromisoformat(record.slot)
        tags = {SLOT_TAG: record.slot, RECORD_TAG: record.run_id}
        state, error = "failed", ""
        with lease.heartbeat(self.heartbeat_s):
            try:
                outcome = self._run(record.pipeline, slot, self._stop, tags)
                status = getattr(outcome, "status", "FINISHED")
                state = "ran" if status == "FINISHED" else "failed"
                error = "" if state == "ran" else f"pipeline ended {status}"
            except PipelineInterrupted as exc:
                state, error = "interrupted", str(exc)
            except Exception as exc:  # a failed run is recorded; the scheduler keeps going
                state, error = "failed", str(exc).splitlines()[0] if str(exc) else repr(exc)
        try:
            if not lease.beat():  # another scheduler took the slot over: its record, not ours
                log.info("lost the slot %s of %s to another scheduler", record.slot,
                         record.pipeline)
                return
            book.close(record, state, error=error)
            self.outcomes[(record.pipeline, record.slot)] = record
            log.info("%s slot %s: %s", record.pipeline, record.slot, record.what)
        except Exception as exc:  # the store is unreachable: the stale lease is taken over
            log.warning("could not record the slot %s of %s: %s", record.slot,
                        record.pipeline, exc)
        finally:
            with contextlib.suppress(Exception):
                lease.release()

    def _run_pipeline(self, name: str, slot: datetime.datetime, stop: threading.Event,
                      tags: dict[str, str]) -> Any:
        from workbench.pipelines.execute import run

        return run(name, root=self.root, stop=stop, tags=tags)
