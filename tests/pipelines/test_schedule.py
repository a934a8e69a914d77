"""Schedules: a slot runs once, across restarts and two schedulers; missed runs run once."""

from __future__ import annotations

import datetime
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import workbench
from tests.helpers import on_cluster
from workbench.errors import ConfigError
from workbench.pipelines.schedule import Scheduler, due_slot, set_schedule
from workbench.pipelines.slots import SlotBook, SlotRecord
from workbench.pipelines.spec import load_spec

UTC = datetime.UTC
SET_AT = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "nightly.yaml").write_text(
        "# hand-written comment stays\nname: nightly\nsteps:\n- name: s\n"
        "  function: steps:go\n")
    return tmp_path


def scheduler(project: Path, ran: list[tuple[str, str]], **kw: Any) -> Scheduler:
    def fake_run(name: str, slot: datetime.datetime, stop: object, tags: object) -> None:
        ran.append((name, slot.isoformat()))

    return Scheduler(project, run=fake_run, **kw)


def history(pipeline: str) -> list[SlotRecord]:
    from workbench.tracking.store import tracking_client

    return SlotBook(tracking_client()).history(pipeline)


def test_schedule_is_written_into_the_spec(project: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    text = (project / "pipelines" / "nightly.yaml").read_text()
    assert text.startswith("# hand-written comment stays")
    spec = load_spec(project / "pipelines" / "nightly.yaml")
    assert spec.schedule == "0 3 * * *"
    with pytest.raises(ConfigError, match="is not a cron expression"):
        set_schedule("nightly", "every night", root=project)


def test_each_slot_runs_once_across_restarts(project: Path, wb_home: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    ran: list[tuple[str, str]] = []
    before_first = datetime.datetime(2026, 11, 21, 2, 59, tzinfo=UTC)
    assert scheduler(project, ran).tick(before_first, wait=True) == []  # nothing before
    first_slot = datetime.datetime(2026, 11, 21, 3, 0, 30, tzinfo=UTC)
    scheduler(project, ran).tick(first_slot, wait=True)
    scheduler(project, ran).tick(first_slot + datetime.timedelta(minutes=5), wait=True)
    assert ran == [("nightly", "2026-11-21T03:00:00+00:00")]
    [record] = history("nightly")
    assert (record.slot, record.state, record.what) == ("2026-11-21T03:00:00+00:00", "ran",
                                                        "ran")
    assert not (wb_home / "scheduler").exists()  # claims live in the store, not in a home


def test_missed_slots_run_once_on_start(project: Path, wb_home: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    ran: list[tuple[str, str]] = []
    three_days_later = datetime.datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    scheduler(project, ran).tick(three_days_later, wait=True)
    assert ran == [("nightly", "2026-11-24T03:00:00+00:00")]  # the newest missed slot only


def test_a_long_pipeline_does_not_delay_other_pipelines(project: Path, wb_home: Path) -> None:
    (project / "pipelines" / "quick.yaml").write_text(
        "name: quick\nsteps:\n- {name: s, function: 'steps:go'}\n")
    for name in ("nightly", "quick"):
        set_schedule(name, "0 3 * * *", root=project, now=SET_AT)
    spans: dict[str, tuple[float, float]] = {}

    def run(name: str, slot: datetime.datetime, stop: object, tags: object) -> None:
        start = time.monotonic()
        time.sleep(3 if name == "nightly" else 0.1)  # nightly sorts first: the long one
        spans[name] = (start, time.monotonic())

    started = Scheduler(project, run=run).tick(datetime.datetime(2026, 11, 21, 3, 1,
                                                                 tzinfo=UTC), wait=True)
    assert [name for name, _ in started] == ["nightly", "quick"]
    assert spans["quick"][1] < spans["nightly"][1] - 1  # quick ran while nightly still ran
    assert {r.state for name in spans for r in history(name)} == {"ran"}


def test_a_dead_holders_older_slot_is_skipped_as_superseded(project: Path,
                                                            wb_home: Path) -> None:
    """A scheduler died running the 03:00 slot and no one took over before 04:00 was due:
    03:00 is recorded skipped (superseded), its pipeline run ended KILLED, 04:00 runs."""
    from workbench.tracking import leases
    from workbench.tracking.store import tracking_client

    set_schedule("nightly", "0 * * * *", root=project, now=SET_AT)
    client = tracking_client()
    book = SlotBook(client)
    old = "2026-11-21T03:00:00+00:00"
    assert leases.claim(client, "workbench.schedule.nightly", kind="schedule",
                        meta={"workbench.slot": old}) is not None  # and it never beats
    record = book.open("nightly", old, "deadhost:1")
    experiment = client.create_experiment("pipeline-nightly")
    orphan = client.create_run(experiment, tags={"workbench.slot.record": record.run_id})
    time.sleep(1.5)
    ran: list[tuple[str, str]] = []
    scheduler(project, ran, heartbeat_s=0.2, stale_s=1).tick(
        datetime.datetime(2026, 11, 21, 4, 0, 5, tzinfo=UTC), wait=True)
    assert ran == [("nightly", "2026-11-21T04:00:00+00:00")]
    newest, skipped = history("nightly")
    assert (newest.state, newest.taken_over_from) == ("ran", "")
    assert (skipped.state, skipped.superseded_by) == ("skipped", newest.slot)
    assert skipped.what == f"skipped: superseded by the slot of {newest.slot}"
    assert client.get_run(orphan.info.run_id).info.status == "KILLED"
    assert leases.read(client, "workbench.schedule.nightly") is None  # deleted when done


def test_bad_heartbeat_settings_are_refused(project: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("WORKBENCH_STALE_S", "soon")
    with pytest.raises(ConfigError, match=r"WORKBENCH_STALE_S='soon' is not a positive number"):
        Scheduler(project)
    with pytest.raises(ConfigError, match=r"stale threshold \(2s\) must exceed the heartbeat"):
        Scheduler(project, heartbeat_s=5, stale_s=2)


def test_due_slot_respects_when_the_schedule_was_set(project: Path) -> None:
    spec = set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    assert due_slot(spec, datetime.datetime(2026, 11, 21, 2, 0, tzinfo=UTC)) is None


def test_cli_schedule_list_and_scheduler_once(project: Path, tmp_path: Path,
                                              dask_client: Any) -> None:
    (project / "steps.py").write_text("def go():\n    return {'done': 1.0}\n")
    home = tmp_path / "wb"
    done = workbench("pipeline", "schedule", "nightly", "--cron", "* * * * *", home=home,
                     cwd=project)
    assert done.returncode == 0, done.stderr
    assert "next run" in done.stdout
    listed = json.loads(workbench("pipeline", "list", "--json", home=home,
                                  cwd=project).stdout)["pipelines"]
    assert listed[0]["schedule"] == "* * * * *" and listed[0]["last_run"] is None
    # as if the schedule had been set an hour ago: this minute's slot is due
    spec_file = project / "pipelines" / "nightly.yaml"
    hour_ago = (datetime.datetime.now(UTC) - datetime.timedelta(hours=1)).isoformat()
    spec_file.write_text(re.sub(r"schedule_since: .*", f'schedule_since: "{hour_ago}"',
                                spec_file.read_text()))
    once = workbench("scheduler", "--once", home=home, cwd=project, env=on_cluster(dask_client))
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("ran nightly for ")
    again = workbench("scheduler", "--once", home=home, cwd=project, env=on_cluster(dask_client))
    # the slot is taken (a new minute may have begun meanwhile: that is a different slot)
    assert once.stdout.strip() not in again.stdout
    assert again.stdout.startswith(("ran nightly for ", "nothing due now; next: nightly at "))
    listed = json.loads(workbench("pipeline", "list", "--json", home=home,
                                  cwd=project).stdout)["pipelines"]
    assert listed[0]["last_status"] == "FINISHED"
