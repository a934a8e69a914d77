"""Schedules: a slot runs once, across restarts and two schedulers; missed runs run once."""

from __future__ import annotations

import datetime
import json
import re
import threading
from pathlib import Path

import pytest

from tests.cli.test_cli import workbench
from workbench.errors import ConfigError
from workbench.pipelines.schedule import Scheduler, due_slot, set_schedule
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


def scheduler(project: Path, ran: list[tuple[str, str]]) -> Scheduler:
    def fake_run(name: str, slot: datetime.datetime) -> None:
        ran.append((name, slot.isoformat()))

    return Scheduler(project, project / "home", run=fake_run)


def test_schedule_is_written_into_the_spec(project: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    text = (project / "pipelines" / "nightly.yaml").read_text()
    assert text.startswith("# hand-written comment stays")
    spec = load_spec(project / "pipelines" / "nightly.yaml")
    assert spec.schedule == "0 3 * * *"
    with pytest.raises(ConfigError, match="is not a cron expression"):
        set_schedule("nightly", "every night", root=project)


def test_each_slot_runs_once_across_restarts(project: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    ran: list[tuple[str, str]] = []
    before_first = datetime.datetime(2026, 11, 21, 2, 59, tzinfo=UTC)
    assert scheduler(project, ran).tick(before_first) == []  # nothing before the schedule
    first_slot = datetime.datetime(2026, 11, 21, 3, 0, 30, tzinfo=UTC)
    scheduler(project, ran).tick(first_slot)
    scheduler(project, ran).tick(first_slot + datetime.timedelta(minutes=5))  # a restart
    assert ran == [("nightly", "2026-11-21T03:00:00+00:00")]
    claim = json.loads((project / "home" / "scheduler" / "claims" / "nightly" /
                        "20261121T030000Z.json").read_text())
    assert claim["status"] == "FINISHED"


def test_missed_slots_run_once_on_start(project: Path) -> None:
    set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    ran: list[tuple[str, str]] = []
    three_days_later = datetime.datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    scheduler(project, ran).tick(three_days_later)
    assert ran == [("nightly", "2026-11-24T03:00:00+00:00")]  # the newest missed slot only


def test_two_schedulers_never_run_the_same_slot(project: Path) -> None:
    set_schedule("nightly", "*/5 * * * *", root=project, now=SET_AT)
    ran: list[tuple[str, str]] = []
    now = datetime.datetime(2026, 11, 21, 3, 5, 10, tzinfo=UTC)
    barrier = threading.Barrier(8)

    def one() -> None:
        barrier.wait()
        scheduler(project, ran).tick(now)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ran == [("nightly", "2026-11-21T03:05:00+00:00")]


def test_due_slot_respects_when_the_schedule_was_set(project: Path) -> None:
    spec = set_schedule("nightly", "0 3 * * *", root=project, now=SET_AT)
    assert due_slot(spec, datetime.datetime(2026, 11, 21, 2, 0, tzinfo=UTC)) is None


def test_cli_schedule_list_and_scheduler_once(project: Path, tmp_path: Path) -> None:
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
    once = workbench("scheduler", "--once", home=home, cwd=project)
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("ran nightly for ")
    again = workbench("scheduler", "--once", home=home, cwd=project)
    # the slot is taken (a new minute may have begun meanwhile: that is a different slot)
    assert once.stdout.strip() not in again.stdout
    listed = json.loads(workbench("pipeline", "list", "--json", home=home,
                                  cwd=project).stdout)["pipelines"]
    assert listed[0]["last_status"] == "FINISHED"
