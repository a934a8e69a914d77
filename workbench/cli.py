"""The `workbench` command. Data goes to stdout (`--json`: one object), logs and bars to stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from workbench.config import project_root
from workbench.errors import WorkbenchError

DEMO_FN = "workbench.demo.classifier:train"
DEMO_MODEL = "workbench-demo"


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="-p")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _parse_space(pairs: tuple[str, ...]) -> dict[str, Any]:
    """name=a,b,c (grid) or name=uniform:LOW:HIGH | loguniform:LOW:HIGH | randint:LOW:HIGH."""
    from workbench.training import space as spaces

    makers: dict[str, Callable[..., Any]] = {"uniform": spaces.uniform,
                                             "loguniform": spaces.loguniform,
                                             "randint": spaces.randint}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name or not raw:
            raise click.BadParameter(f"{pair!r} is not name=v1,v2 or name=uniform:LOW:HIGH",
                                     param_hint="--space")
        kind, _, bounds = raw.partition(":")
        if kind in makers:
            low, _, high = bounds.partition(":")
            cast = int if kind == "randint" else float
            try:
                out[name] = makers[kind](cast(low), cast(high))
            except ValueError:
                raise click.BadParameter(f"{pair!r}: bounds must be numbers, e.g. "
                                         f"{name}={kind}:1:10", param_hint="--space") from None
        else:
            out[name] = [_scalar(v) for v in raw.split(",")]
    return out


def _scalar(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(package_name="workbench")
def cli() -> None:
    """Workbench: train on Dask, track in MLflow, watch drift, promote to production."""


def _demo_data(rows: int, seed: int) -> Any:
    from workbench.demo import make_dataset

    return make_dataset(rows, seed=seed)


def _train_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("function", required=False),
        click.option("--demo", is_flag=True, help="train the built-in classifier on built-in data"),
        click.option("-p", "--param", "params", multiple=True, help="key=value (JSON values)"),
        click.option("--data", type=str, help="Parquet/CSV file or directory"),
        click.option("--rows", type=int, default=None, help="rows of demo data (with --demo)"),
        click.option("--epochs", type=int, default=None, help="epochs (with --demo)"),
        click.option("--experiment", default=None, help="MLflow experiment name"),
        click.option("--seed", type=int, default=None),
        click.option("--json", "as_json", is_flag=True, help="print one JSON object"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _resolve(function: str | None, demo: bool, params: tuple[str, ...], data: str | None,
             rows: int | None, epochs: int | None, seed: int | None) -> tuple[str, dict[str, Any],
                                                                               Any]:
    parsed = _parse_params(params)
    if demo:
        if function:
            raise click.UsageError("give either FUNCTION or --demo, not both")
        if epochs is not None:
            parsed["epochs"] = epochs
        frame = data or _demo_data(rows or 20_000, seed if seed is not None else 0)
        return DEMO_FN, parsed, frame
    if not function:
        raise click.UsageError("give a train function as module:function, or --demo")
    if rows is not None or epochs is not None:
        raise click.UsageError("--rows and --epochs go with --demo; use -p for your function")
    return function, parsed, data


@cli.command()
@_train_options
@click.option("--workers", type=int, default=1, show_default=True, help="DDP ranks")
@click.option("--register", default=None, help="register the model under this name")
@click.option("--run-name", default=None)
def train(function: str | None, demo: bool, params: tuple[str, ...], data: str | None,
          rows: int | None, epochs: int | None, experiment: str | None, seed: int | None,
          as_json: bool, workers: int, register: str | None, run_name: str | None) -> None:
    """Train FUNCTION (module:function) or the --demo classifier as one tracked run."""
    import workbench as wb

    fn, parsed, frame = _resolve(function, demo, params, data, rows, epochs, seed)
    job = wb.train(fn, params=parsed, data=frame, experiment=experiment, run_name=run_name,
                   workers=workers, register=register, seed=seed, progress=not as_json)
    click.echo(f"run {job.run_id} submitted", err=True)
    result = _wait(job)
    out = {**result.to_dict(), "status": job.status()}
    if register:
        out["registered"] = _registered_version(register, job.run_id)
    if as_json:
        _emit(out)
    else:
        _print_result(out)


def _wait(job: Any) -> Any:
    try:
        return job.result()
    except WorkbenchError:
        raise
    except Exception as exc:
        raise WorkbenchError(f"run {job.run_id} failed: {type(exc).__name__}: {exc}; see the "
                             "traceback in the run's error/traceback.txt artifact") from None


def _registered_version(name: str, run_id: str) -> dict[str, Any] | None:
    from workbench.tracking.store import tracking_client

    versions = tracking_client().search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if not versions:
        return None
    return {"name": name, "version": int(max(int(v.version) for v in versions))}


def _print_result(out: dict[str, Any]) -> None:
    click.echo(f"run_id:    {out['run_id']}")
    click.echo(f"status:    {out['status']}")
    click.echo(f"model_uri: {out['model_uri']}")
    if out.get("registered"):
        click.echo(f"registered: {out['registered']['name']} v{out['registered']['version']}")
    for key, value in sorted(out["metrics"].items()):
        click.echo(f"  {key:<14} {value:.4f}")


@cli.command()
@_train_options
@click.option("--space", "space", multiple=True,
              help="name=v1,v2 (grid) or name=uniform|loguniform|randint:LOW:HIGH")
@click.option("--n-trials", type=int, default=None, help="random search with N trials")
@click.option("--metric", default=None, help="metric to optimise (demo: val_loss)")
@click.option("--mode", type=click.Choice(["min", "max"]), default="min", show_default=True)
def sweep(function: str | None, demo: bool, params: tuple[str, ...], data: str | None,
          rows: int | None, epochs: int | None, experiment: str | None, seed: int | None,
          as_json: bool, space: tuple[str, ...], n_trials: int | None, metric: str | None,
          mode: str) -> None:
    """Grid or random search over FUNCTION (or --demo), trials in parallel on the cluster."""
    import workbench as wb

    fn, parsed, frame = _resolve(function, demo, params, data, rows, epochs, seed)
    if demo:
        metric = metric or "val_loss"
        space = space or ("lr=0.003,0.01,0.03", "hidden=16,64")
    if not metric:
        raise click.UsageError("--metric is required")
    if not space:
        raise click.UsageError("give at least one --space name=v1,v2")
    result = wb.sweep(fn, space=_parse_space(space), data=frame, n_trials=n_trials,
                      metric=metric, mode=mode, experiment=experiment, params=parsed, seed=seed,
                      progress=not as_json)
    click.echo(f"sweep {result.parent_run_id} submitted ({len(result.jobs)} trials)", err=True)
    try:
        trials = result.result()
        best = result.best()
    except WorkbenchError:
        raise
    except Exception as exc:
        raise WorkbenchError(f"sweep {result.parent_run_id} failed: every trial failed; first "
                             f"error: {type(exc).__name__}: {exc}") from None
    out = {"parent_run_id": result.parent_run_id, "metric": metric, "mode": mode,
           "best": best.to_dict(), "trials": [t.to_dict() for t in trials],
           "failed": len(result.jobs) - len(trials)}
    if as_json:
        _emit(out)
        return
    click.echo(f"sweep {result.parent_run_id}: {len(trials)} trials, {out['failed']} failed")
    click.echo(f"best: {best.run_id} {metric}={best.metrics.get(metric, float('nan')):.4f}")


@cli.command()
@click.option("--experiment", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(experiment: str | None, limit: int, as_json: bool) -> None:
    """Recent runs of an experiment (default: workbench)."""
    from workbench.runs import list_runs

    rows = list_runs(experiment, limit)
    if as_json:
        _emit({"runs": rows})
        return
    from rich.console import Console
    from rich.table import Column, Table

    table = Table("name", "kind", "status", "started", "metrics")
    table.columns.insert(0, Column("run_id", no_wrap=True, min_width=32))
    for row in rows:
        metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(row["metrics"].items())[:4])
        table.add_row(row["run_id"], row["name"] or "", row["kind"], row["status"],
                      row["started"] or "", metrics)
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """What Workbench found on this machine, and a one-line fix for each problem."""
    from workbench.doctor import run_checks

    findings = run_checks()
    failed = [f for f in findings if f.status == "fail"]
    if as_json:
        _emit({"ok": not failed, "findings": [f.to_dict() for f in findings]})
    else:
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
        from rich.console import Console

        console = Console()
        for f in findings:
            fix = f"  [dim]fix:[/] {f.fix}" if f.fix else ""
            console.print(f"{marks[f.status]:>14}  {f.check:<12} {f.detail}{fix}",
                          highlight=False)
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--rows", type=int, default=20_000, show_default=True)
@click.option("--epochs", type=int, default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def demo(rows: int, epochs: int, as_json: bool) -> None:
    """The main job on the embedded defaults: train, track and register the demo classifier."""
    import workbench as wb
    from workbench.config import settings

    data = _demo_data(rows, 0)
    job = wb.train(DEMO_FN, params={"epochs": epochs}, data=data, run_name="demo",
                   register=DEMO_MODEL, seed=0, progress=not as_json)
    result = _wait(job)
    out = {**result.to_dict(), "status": job.status(),
           "registered": _registered_version(DEMO_MODEL, job.run_id),
           "tracking_uri": settings().tracking_uri}
    if as_json:
        _emit(out)
        return
    _print_result(out)
    click.echo(f"\nbrowse it: mlflow ui --backend-store-uri {out['tracking_uri']}")


DRIFT_EXIT = 3  # `drift --fail-on-drift` when drift is found (1 is an error)


@cli.command("drift")
@click.argument("reference", type=click.Path())
@click.argument("current", type=click.Path())
@click.option("--columns", default=None, help="comma-separated columns to compare (default: all)")
@click.option("--engine", type=click.Choice(["auto", "evidently", "dask"]), default="auto",
              show_default=True)
@click.option("--model", default=None, help="record the check in this model's drift history")
@click.option("--version", "model_version", default=None,
              help="model version checked (default: the champion alias, else the newest)")
@click.option("--run", "run_id", default=None, help="log the report and scores to this run")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="write Evidently's HTML report here")
@click.option("--fail-on-drift", is_flag=True, help=f"exit {DRIFT_EXIT} when the dataset drifts")
@click.option("--json", "as_json", is_flag=True)
def drift_command(reference: str, current: str, columns: str | None, engine: str,
                  model: str | None, model_version: str | None, run_id: str | None,
                  html_path: str | None, fail_on_drift: bool, as_json: bool) -> None:
    """Compare CURRENT data with REFERENCE data (Parquet/CSV files or directories)."""

    from workbench.monitoring.api import drift

    if model_version is not None and model is None:
        raise click.BadParameter("--version needs --model", param_hint="--version")
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = drift(reference, current, columns=names, engine=engine)
    out = result.to_dict()
    if html_path:
        out["html"] = str(_write_html(html_path, result.to_html))
    if run_id is not None:
        out["logged_run_id"] = result.log(run_id)
    if model is not None:
        out["logged_run_id"] = result.log(model=model, version=model_version)
    if as_json:
        _emit(out)
    else:
        _print_drift(result)
        if html_path:
            click.echo(f"report: {out['html']}")
        if "logged_run_id" in out:
            click.echo(f"logged to run {out['logged_run_id']}")
    if fail_on_drift and result.drifted:
        click.echo(f"error: {result.summary()}", err=True)
        sys.exit(DRIFT_EXIT)


def _write_html(path: str, render: Callable[[], str]) -> Any:
    """`--html PATH`: checked before rendering, written whole or not at all."""
    from pathlib import Path

    from workbench.files import write_atomically

    target = Path(path).expanduser().resolve()
    if not target.parent.is_dir():
        raise click.BadParameter(f"directory {target.parent} does not exist", param_hint="--html")
    return write_atomically(target, render())


def _print_drift(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("column", "type", "test", "score", "threshold", "drift")
    for c in result.columns.values():
        table.add_row(c.column, c.column_type, c.stattest, f"{c.score:.4g}", f"{c.threshold:g}",
                      "[red]DRIFT[/]" if c.drifted else "ok")
    for column, why in result.skipped.items():
        table.add_row(column, "-", "skipped", "", "", why)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(result.summary(), highlight=False)


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
    from workbench.pipelines.create import create
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
    from rich.table import Table

    table = Table("pipeline", "steps", "schedule", "next run", "last run", "status")
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], "", "", "", "", f"[red]invalid[/]: {r['error']}")
            continue
        table.add_row(r["name"], str(r["steps"]), r["schedule"] or "", r["next_run"] or "",
                      r["last_run"] or "never", r["last_status"] or "")
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
    """Run pipeline NAME on the dask cluster, each step a nested MLflow run."""
    from workbench.pipelines.run import run

    def show(step: str, state: str, detail: str) -> None:
        marks = {"queued": "..", "running": ">>", "finished": "ok", "failed": "FAILED",
                 "killed": "skipped"}
        click.echo(f"{marks.get(state, state):>7}  {step}  {detail}", err=True)

    outcome = run(name, _parse_params(params), on_event=show)
    if as_json:
        _emit(outcome.to_dict())
    else:
        click.echo(f"pipeline {name}: {outcome.status} (run {outcome.run_id})")


@cli.command()
@click.argument("model")
@click.option("--run", "run_id", required=True, help="the run whose model to promote")
@click.option("--approver", required=True, help="who approves (recorded)")
@click.option("--reason", required=True, help="why (recorded)")
@click.option("--require", "require", multiple=True, help='a metric gate, e.g. "val_auc>=0.8"')
@click.option("--beat-champion", default=None, help="metric the run must beat the champion on")
@click.option("--margin", type=float, default=0.0, show_default=True)
@click.option("--mode", type=click.Choice(["max", "min"]), default="max", show_default=True,
              help="whether a higher --beat-champion metric is better")
@click.option("--expect-version", default=None,
              help="the champion version you expect (default: the one read at the start)")
@click.option("--four-eyes", is_flag=True, help="someone else must approve (also on when the "
              "model's workbench.policy.four_eyes tag is true)")
@click.option("--production-data", type=click.Path(), default=None,
              help="recent production data: adds the data-validation and no-drift gates")
@click.option("--training-data", type=click.Path(), default=None,
              help="the run's training data (default: the path its dataset input names)")
@click.option("--json", "as_json", is_flag=True)
def promote(model: str, run_id: str, approver: str, reason: str, require: tuple[str, ...],
            beat_champion: str | None, margin: float, mode: str, expect_version: str | None,
            four_eyes: bool, production_data: str | None, training_data: str | None,
            as_json: bool) -> None:
    """Make a run's model the champion of MODEL, if every gate passes."""
    from workbench.promotion.promote import UNSET, PromotionRequest
    from workbench.promotion.promote import promote as do_promote

    record = do_promote(model, run_id=run_id, approver=approver, reason=reason,
                        require=require, beat_champion=beat_champion, margin=margin, mode=mode,
                        expect_version=UNSET if expect_version is None else expect_version,
                        four_eyes=four_eyes, production_data=production_data,
                        training_data=training_data)
    if as_json:
        _emit(record.to_dict())
        return
    if isinstance(record, PromotionRequest):
        click.echo(f"request {record.request_id} is pending (gates passed); someone other than "
                   f"{record.requester} completes it with: workbench approve "
                   f"{record.request_id} --approver WHO --reason WHY")
        return
    click.echo(f"{model} v{record.version} is now champion (was "
               f"{'none' if record.previous_version is None else 'v' + record.previous_version})")
    for gate in record.gates:
        click.echo(f"  passed  {gate.gate}: {gate.detail}")


@cli.command()
@click.argument("request")
@click.option("--approver", required=True, help="who approves (not the requester)")
@click.option("--reason", required=True, help="why (recorded)")
@click.option("--json", "as_json", is_flag=True)
def approve(request: str, approver: str, reason: str, as_json: bool) -> None:
    """Complete a four-eyes promotion REQUEST (MODEL/N, as promote printed it)."""
    from workbench.promotion.promote import approve as do_approve

    record = do_approve(request, approver=approver, reason=reason)
    if as_json:
        _emit(record.to_dict())
        return
    click.echo(f"{record.model} v{record.version} is now champion (approved by {approver})")


@cli.command()
@click.argument("request")
@click.option("--approver", required=True, help="who decides (the requester may withdraw)")
@click.option("--reason", required=True, help="why (recorded)")
@click.option("--json", "as_json", is_flag=True)
def decline(request: str, approver: str, reason: str, as_json: bool) -> None:
    """Close a pending promotion REQUEST (MODEL/N) without promoting."""
    from workbench.promotion.promote import decline as do_decline

    entry = do_decline(request, approver=approver, reason=reason)
    if as_json:
        _emit(entry)
        return
    click.echo(f"request {request} declined by {approver}; nothing moved")


@cli.command()
@click.argument("model")
@click.option("--to", "to_version", default=None, help="version to return to (default: the one "
              "the champion replaced)")
@click.option("--approver", default="", help="who decided (recorded)")
@click.option("--reason", default="rollback", help="why (recorded)")
@click.option("--json", "as_json", is_flag=True)
def rollback(model: str, to_version: str | None, approver: str, reason: str,
             as_json: bool) -> None:
    """Move MODEL's champion back to the previous (or named) version."""
    from workbench.promotion.promote import rollback as do_rollback

    entry = do_rollback(model, to_version=to_version, approver=approver, reason=reason)
    if as_json:
        _emit(entry)
        return
    click.echo(f"{model}: champion v{entry['previous']} -> v{entry['version']}")


@cli.command()
@click.argument("model")
@click.option("--verify", is_flag=True, help="check the hash chain; exit 1 if it is broken")
@click.option("--json", "as_json", is_flag=True)
def history(model: str, verify: bool, as_json: bool) -> None:
    """MODEL's promotions, rejections and rollbacks, oldest first."""
    from workbench.promotion.ledger import verify as check
    from workbench.promotion.promote import history as read
    from workbench.promotion.registry import pending_requests

    entries = read(model)
    if verify:
        ok, why = check(entries)
        if as_json:
            _emit({"ok": ok, "detail": why})
        else:
            click.echo(f"{model}: {why}")
        if not ok:
            sys.exit(1)
        return
    if as_json:
        click.echo(json.dumps(entries, indent=2, default=str))
        return
    pending = {e["seq"] for e in pending_requests(model, entries)}
    for e in entries:
        version = f"v{e.get('version')}" if e.get("version") else ""
        who = e.get("approver") or e.get("requester") or ""
        click.echo(f"{e['seq']:>4}  {e['at']}  {e['action']:<9} {version:<5} "
                   f"{who}: {e.get('reason', '')}")
        if e["seq"] in pending:
            click.echo(f"{'':>6}pending: workbench approve {model}/{e['seq']} --approver WHO "
                       "--reason WHY")


@cli.command()
@click.argument("model")
@click.argument("version")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="write the dossier as one HTML page here")
def dossier(model: str, version: str, html_path: str | None) -> None:
    """Everything an auditor asks about MODEL VERSION (JSON on stdout)."""

    from workbench.promotion.dossier import dossier as build
    from workbench.promotion.dossier import to_html

    data = build(model, version)
    if html_path:
        click.echo(f"wrote {_write_html(html_path, lambda: to_html(data))}", err=True)
    _emit(data)


@cli.command()
@click.option("--once", is_flag=True, help="run what is due now, then exit")
@click.option("--interval", type=float, default=30.0, show_default=True, help="seconds per tick")
def scheduler(once: bool, interval: float) -> None:
    """Run scheduled pipelines of ./pipelines (each slot once, even with several schedulers)."""

    from workbench.config import settings
    from workbench.pipelines.schedule import Scheduler
    from workbench.pipelines.service import sigterm_as_interrupt

    service = Scheduler(project_root(), settings().home)
    sigterm_as_interrupt()  # a service manager's stop ends a run as FAILED, not lost
    if once:
        for name, slot in service.tick():
            click.echo(f"ran {name} for {slot}")
        return
    click.echo(f"scheduler: checking ./pipelines every {interval:g}s (Ctrl-C stops)", err=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
        service.serve(interval)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=8888, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="interface to bind; Jupyter's token is required either way")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also run `workbench scheduler` for ./pipelines while Lab runs")
@click.option("--no-browser", is_flag=True)
@click.argument("lab_args", nargs=-1, type=click.UNPROCESSED)
def lab(port: int, address: str, with_scheduler: bool, no_browser: bool,
        lab_args: tuple[str, ...]) -> None:
    """JupyterLab on this project (extra arguments go to `jupyter lab`)."""

    from workbench.lab import lab as run_lab

    code = run_lab(project_root(), port=port, address=address,
                   with_scheduler=with_scheduler, open_browser=not no_browser,
                   extra_args=lab_args, say=lambda line: click.echo(line, err=True))
    sys.exit(code)


@cli.command()
@click.option("--port", type=int, default=5006, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="interface to bind; the login is required either way")
@click.option("--basic-auth", default=None, help="USER:PASSWORD for the login (default: user "
              "'workbench' and a generated password, printed)")
@click.option("--cookie-secret", default=None, help="signs login cookies (default: random)")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also run `workbench scheduler` for ./pipelines while it serves")
def dashboard(port: int, address: str, basic_auth: str | None, cookie_secret: str | None,
              with_scheduler: bool) -> None:
    """Panel dashboards (promotion: champion, requests, history) behind a login."""

    from workbench.dashboard import dashboard as serve

    sys.exit(serve(project_root(), port=port, address=address, basic_auth=basic_auth,
                   cookie_secret=cookie_secret, with_scheduler=with_scheduler,
                   say=lambda line: click.echo(line, err=True)))


@cli.command()
@click.argument("model")
@click.option("--data", required=True, type=click.Path(), help="new production data")
@click.option("--json", "as_json", is_flag=True)
def monitor(model: str, data: str, as_json: bool) -> None:
    """Check MODEL's new data for drift; past the policy, retrain (once per cooldown)."""
    from workbench.pipelines.monitor import monitor as check

    outcome = check(model, data)
    if as_json:
        _emit(outcome.to_dict())
        return
    click.echo(f"{model}: drift share {outcome.share:.2f} (threshold {outcome.threshold}); "
               f"{outcome.reason or 'no action'}")
    if outcome.promotion:
        click.echo(f"promotion: {outcome.promotion['action']}: {outcome.promotion['detail']}")


def main() -> None:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for logs
    cli(prog_name="workbench")


if __name__ == "__main__":
    main()
