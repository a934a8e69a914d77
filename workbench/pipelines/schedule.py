"""Schedules: cron slots claimed exactly once, across restarts and across scheduler processes.

A pipeline's schedule lives in its spec (`schedule:`, `schedule_since:`). The scheduler looks at
the newest slot at or before now; a slot runs only after its claim file is created with
O_CREAT|O_EXCL under `$WORKBENCH_HOME/scheduler/claims/`, so two schedulers never run the same
slot and a restart never runs one twice. A slot missed while no scheduler ran is run once at the
next start (only the newest one: a week of downtime does not start seven runs).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.files import write_atomically
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


class Scheduler:
    """One scheduler process. `tick()` runs what is due; `serve()` ticks until stopped."""

    def __init__(self, root: Path, home: Path,
                 run: Callable[[str, datetime.datetime], Any] | None = None) -> None:
        self.root = root
        self.claims = home / "scheduler" / "claims"
        self._run = run or self._run_pipeline

    def tick(self, now: datetime.datetime | None = None) -> list[tuple[str, str]]:
        """Run every due, unclaimed slot; returns (pipeline, slot) for each one run here."""
        now = now or datetime.datetime.now(UTC)
        ran = []
        for path in sorted((self.root / PIPELINES_DIR).glob("*.yaml")):
            try:
                spec = load_spec(path)
            except ConfigError as exc:
                log.warning("skipping %s: %s", path.name, exc)
                continue
            slot = due_slot(spec, now)
            if slot is None or not self._claim(spec.name, slot):
                continue
            ran.append((spec.name, slot.isoformat()))
            try:
                outcome = self._run(spec.name, slot)
                self._note(spec.name, slot, {"status": getattr(outcome, "status", "FINISHED"),
                                             "run_id": getattr(outcome, "run_id", None)})
            except Exception as exc:  # a failed run is recorded; the scheduler keeps going
                log.error("scheduled run of %s at %s failed: %s", spec.name, slot, exc)
                self._note(spec.name, slot, {"status": "FAILED", "error": str(exc)[:2000]})
        return ran

    def serve(self, interval_s: float = 30.0, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            self.tick()
            time.sleep(interval_s)

    def _claim_path(self, name: str, slot: datetime.datetime) -> Path:
        return self.claims / name / (slot.strftime("%Y%m%dT%H%M%SZ") + ".json")

    def _claim(self, name: str, slot: datetime.datetime) -> bool:
        path = self._claim_path(name, slot)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False  # another scheduler (or an earlier life of this one) has it
        with os.fdopen(fd, "w") as handle:
            json.dump({"pipeline": name, "slot": slot.isoformat(), "pid": os.getpid(),
                       "status": "RUNNING"}, handle)
        return True

    def _note(self, name: str, slot: datetime.datetime, outcome: dict[str, Any]) -> None:
        path = self._claim_path(name, slot)
        data = {**json.loads(path.read_text()), **outcome}
        path.write_text(json.dumps(data))

    def _run_pipeline(self, name: str, slot: datetime.datetime) -> Any:
        from workbench.pipelines.execute import run

        return run(name, root=self.root)
