"""`workbench pipeline ...`, `scheduler`, `monitor`."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, NoReturn

import click

from workbench.cli.base import (
    _emit,
    _parse_params,
    cli,
)
from workbench.config import project_root
from workbench.errors import WorkbenchError


@cli.group()
def pipeline() -> None:
    """Pipelines made from pilot notebooks (pipelines/NAME.yaml)."""


@pipeline.command("create")
@click.option("--from", "notebooks", required=True, multiple=True,
              type=click.Path(dir_okay=False),
              help="the pilot notebook (.ipynb with a 'parameters' cell, or marimo .py); "
                   "repeat it for a chain of notebooks, run in the order given")
@click.option("--name", required=True, help="pipeline name: pipelines/NAME.yaml")
@click.option("--model", default=None, help="the registered model the pipeline produces")
@click.option("--force", is_flag=True, help="overwrite an existing spec")
@click.option("--json", "as_json", is_flag=True)
def pipeline_create(notebooks: tuple[str, ...], name: str, model: str | None, force: bool,
                    as_json: bool) -> None:
    """Write pipelines/NAME.yaml from a notebook's declared parameters."""
    from workbench.pipelines.from_notebook import create
    from workbench.pipelines.spec import load_spec

    path = create(notebooks, name, model=model, force=force)
    spec = load_spec(path)
    if as_json:
        _emit({"path": str(path), "spec": spec.model_dump(mode="json")})
        return
    click.echo(f"wrote {path}: {len(spec.params)} parameters "
               f"({', '.join(spec.params)}), steps {' -> '.join(s.name for s in spec.steps)}")


@pipeline.command("list")
@click.option("--json", "as_json", is_flag=True)
def pipeline_list(as_json: bool) -> None:
    """Pipelines in ./pipelines: last run, its status, next scheduled run."""

    from workbench.pipelines.listing import list_pipelines

    rows = list_pipelines(project_root())
    if as_json:
        _emit({"pipelines": rows})
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("pipeline", "steps", "schedule", "next slot", "last run", "status",
                  "last slots")
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], "", "", "", "", f"[red]invalid[/]: {escape(r['error'])}",
                          "")
            continue
        slots = "\n".join(f"{s['slot']}: {s['what']}" for s in r["slots"][:3])
        table.add_row(r["name"], str(r["steps"]), r["schedule"] or "", r["next_run"] or "",
                      r["last_run"] or "never", r["last_status"] or "", escape(slots))
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@pipeline.command("schedule")
@click.argument("name")
@click.option("--cron", required=True, help='cron expression in UTC, e.g. "0 3 * * *"')
def pipeline_schedule(name: str, cron: str) -> None:
    """Run pipeline NAME on a schedule (kept in its spec; `workbench scheduler` runs it)."""

    from workbench.pipelines.schedule import next_run, set_schedule

    spec = set_schedule(name, cron, root=project_root())
    import datetime

    upcoming = next_run(spec, datetime.datetime.now(datetime.UTC))
    click.echo(f"{name}: {cron} (UTC); next run {upcoming.isoformat() if upcoming else '-'}")


@pipeline.command("run")
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, help="key=value (JSON values parsed)")
@click.option("--json", "as_json", is_flag=True)
def pipeline_run(name: str, params: tuple[str, ...], as_json: bool) -> None:
    """Run pipeline NAME on the dask cluster, each step a nested MLflow run. Ctrl-C or SIGTERM
    stops its steps (kernels shut down); they end KILLED."""
    from workbench.pipelines.execute import PipelineInterrupted, run
    from workbench.service import sigterm_as_interrupt

    def show(step: str, state: str, detail: str) -> None:
        marks = {"queued": "..", "running": ">>", "finished": "ok", "failed": "FAILED",
                 "killed": "skipped"}
        click.echo(f"{marks.get(state, state):>7}  {step}  {detail}", err=True)

    sigterm_as_interrupt()  # a service manager's stop is a Ctrl-C: steps end KILLED
    try:
        outcome = run(name, _parse_params(params), on_event=show)
    except (PipelineInterrupted, KeyboardInterrupt) as exc:
        _interrupted(exc)
    made = _runs_made(outcome)
    if as_json:
        _emit({**outcome.to_dict(), "runs_made": made})
    else:
        click.echo(f"pipeline {name}: {outcome.status} (run {outcome.run_id})")
        for child in made:
            model = " (logged a model)" if child["model"] else ""
            click.echo(f"  made run {child['run_id']} {child['name']!r} in "
                       f"{child['experiment']!r}: {child['status']}{model}")


def _runs_made(outcome: Any) -> list[dict[str, Any]]:
    """The runs the pipeline's steps started (wb.train, wb.sweep...): tagged with its run id,
    other than the step runs themselves."""
    from workbench.tracking.store import filter_literal, tracking_client

    client = tracking_client()
    steps = {s.run_id for s in outcome.steps.values()} | {outcome.run_id}
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    found = client.search_runs(
        list(experiments), max_results=200, order_by=["attributes.start_time ASC"],
        filter_string=f"tags.`workbench.pipeline_run` = {filter_literal(outcome.run_id)}")
    return [{"run_id": r.info.run_id, "name": r.info.run_name or "",
             "experiment": experiments.get(r.info.experiment_id, r.info.experiment_id),
             "status": r.info.status,
             "model": bool(r.outputs and r.outputs.model_outputs)}
            for r in found if r.info.run_id not in steps]


def _nothing_due(root: Any) -> str:
    """`scheduler --once` with nothing to run says so, and when the next slot is."""
    import datetime

    from workbench.errors import ConfigError
    from workbench.pipelines.schedule import next_run
    from workbench.pipelines.spec import load_spec
    from workbench.project import PIPELINES_DIR

    now = datetime.datetime.now(datetime.UTC)
    upcoming = []
    for path in sorted((root / PIPELINES_DIR).glob("*.yaml")):
        with contextlib.suppress(ConfigError):
            spec = load_spec(path)
            at = next_run(spec, now)
            if at is not None:
                upcoming.append((at, spec.name))
    if not upcoming:
        return f"nothing due: no pipeline in {root / PIPELINES_DIR} has a schedule"
    at, name = min(upcoming)
    return (f"nothing due now; next: {name} at {at.isoformat(timespec='minutes')} "
            f"({len(upcoming)} scheduled)")


def _interrupted(exc: BaseException) -> NoReturn:
    """Ctrl-C / SIGTERM: one line, exit 130 (as a shell reports SIGINT)."""
    click.echo(f"error: {exc or 'interrupted'}", err=True)
    sys.exit(130)


@cli.command()
@click.option("--once", is_flag=True, help="run what is due now, wait for it, then exit")
@click.option("--interval", type=float, default=30.0, show_default=True, help="seconds per tick")
@click.option("--heartbeat", type=click.FloatRange(min=0, min_open=True), default=None,
              help="seconds between heartbeats of a running slot [env WORKBENCH_HEARTBEAT_S; "
                   "default 10]")
@click.option("--stale-after", type=click.FloatRange(min=0, min_open=True), default=None,
              help="seconds without a heartbeat after which another scheduler takes a slot "
                   "over [env WORKBENCH_STALE_S; default 60]")
def scheduler(once: bool, interval: float, heartbeat: float | None,
              stale_after: float | None) -> None:
    """Run scheduled pipelines of ./pipelines: each slot once, however many schedulers share
    the tracking store; a slot whose scheduler died is taken over."""

    from workbench.pipelines.schedule import Scheduler

    service = Scheduler(project_root(), heartbeat_s=heartbeat, stale_s=stale_after)
    service.stop_on_signals()  # a service manager's stop: running slots end interrupted, due again
    if once:
        try:
            started = service.tick(wait=True)
        except KeyboardInterrupt:  # a second Ctrl-C
            service.shutdown()
            started = []
        if service.stopping:
            _interrupted(KeyboardInterrupt("scheduler stopped; its slots are due again"))
        failed = []
        for name, slot in started:
            record = service.outcomes.get((name, slot))
            if record is not None and record.state == "ran":
                click.echo(f"ran {name} for {slot}")
            else:
                failed.append(f"{name} slot {slot} "
                              f"{record.what if record else 'ended without a record'}")
        if failed:
            raise WorkbenchError("; ".join(failed))
        if not started:
            click.echo(_nothing_due(service.root))
        return
    click.echo(f"scheduler: checking ./pipelines every {interval:g}s (Ctrl-C stops)", err=True)
    import logging

    said = logging.StreamHandler()  # one line per slot event (ran, failed, taken over)
    said.setFormatter(logging.Formatter("scheduler: %(message)s"))
    logging.getLogger("workbench.pipelines.schedule").addHandler(said)
    logging.getLogger("workbench.pipelines.schedule").setLevel(logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
        service.serve(interval)


@cli.command()
@click.argument("model")
@click.option("--data", required=True, type=click.Path(), help="new production data")
@click.option("--labels", type=click.Path(), default=None,
              help="labels that arrived later (with the spec's monitor.key column)")
@click.option("--json", "as_json", is_flag=True)
def monitor(model: str, data: str, labels: str | None, as_json: bool) -> None:
    """Check MODEL's new data: drift, prediction drift and performance; when one fires,
    retrain (once per cooldown)."""
    from workbench.pipelines.execute import PipelineInterrupted
    from workbench.retraining import monitor as check
    from workbench.service import sigterm_as_interrupt

    sigterm_as_interrupt()  # a stop mid-retraining ends it KILLED and leaves the window open
    try:
        outcome = check(model, data, labels=labels)
    except (PipelineInterrupted, KeyboardInterrupt) as exc:
        _interrupted(exc)
    if as_json:
        _emit(outcome.to_dict())
        return
    for signal in outcome.signals:
        mark = "FIRED" if signal["fired"] else "ok"
        click.echo(f"  {signal['name']:<17} {mark:<6} {signal['detail']}"
                   + (f" [fires at {signal['threshold']}]" if signal["threshold"] else ""))
    verdict = ", ".join(outcome.fired) + " fired" if outcome.fired else "nothing fired"
    click.echo(f"{model}: {verdict}; "
               + ("retraining started" if outcome.triggered else "no retraining started")
               + (f" (pipeline run {outcome.pipeline_run_id})" if outcome.pipeline_run_id else
                  ""))
    if outcome.triggered is False and outcome.fired:
        click.echo(outcome.reason)
    if outcome.promotion:
        click.echo(f"promotion: {outcome.promotion['action']}: {outcome.promotion['detail']}")
