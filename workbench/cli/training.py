"""`workbench train`, `sweep`, `runs`, `demo`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from workbench.cli.base import (
    DEMO_FN,
    DEMO_MODEL,
    _demo_data,
    _emit,
    _parse_space,
    _resolve,
    _train_options,
    cli,
)
from workbench.errors import WorkbenchError


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def _quiet_workers(command: Callable[..., Any]) -> Callable[..., Any]:
    """The local cluster's workers log nothing below CRITICAL: a failure reaches the user once,
    as the group's one `error:` line; its traceback is in the run's error/traceback.txt."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from workbench.dask_cluster import quiet_workers

        quiet_workers()
        return command(*args, **kwargs)

    return run


@cli.command()
@_train_options
@click.option("--workers", type=int, default=1, show_default=True, help="DDP ranks")
@click.option("--register", default=None, help="register the model under this name")
@click.option("--run-name", default=None)
@_quiet_workers
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
        raise WorkbenchError(
            f"run {job.run_id} failed: {type(exc).__name__}: {_one_line(exc)}; see the "
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
    if out.get("model_error"):
        click.echo(f"warning: {out['model_error']}", err=True)
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
@click.option("--log-models", type=click.Choice(["best", "all", "none"]), default="best",
              show_default=True, help="whose returned model to export")
@_quiet_workers
def sweep(function: str | None, demo: bool, params: tuple[str, ...], data: str | None,
          rows: int | None, epochs: int | None, experiment: str | None, seed: int | None,
          as_json: bool, space: tuple[str, ...], n_trials: int | None, metric: str | None,
          mode: str, log_models: str) -> None:
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
                      progress=not as_json, log_models=log_models)
    click.echo(f"sweep {result.parent_run_id} submitted ({len(result.jobs)} trials)", err=True)
    try:
        trials = result.result()
        best = result.best()
    except WorkbenchError:
        raise
    except Exception as exc:
        raise WorkbenchError(f"sweep {result.parent_run_id} failed: every trial failed; first "
                             f"error: {type(exc).__name__}: {_one_line(exc)}") from None
    out = {"parent_run_id": result.parent_run_id, "metric": metric, "mode": mode,
           "best": best.to_dict(), "trials": [t.to_dict() for t in trials],
           "failed": len(result.jobs) - len(trials)}
    if as_json:
        _emit(out)
        return
    click.echo(f"sweep {result.parent_run_id}: {len(trials)} trials, {out['failed']} failed")
    click.echo(f"best: {best.run_id} {metric}={best.metrics.get(metric, float('nan')):.4f}")
    click.echo(f"model_uri: {best.model_uri}")


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


@cli.command("replay-metrics")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def replay_metrics(path: Path) -> None:
    """Write the metric points a run could not write (RUN_ID.jsonl, kept by its worker under
    $WORKBENCH_HOME/unwritten-metrics) to that run; points it already holds are skipped."""
    from workbench.tracking.unwritten import replay

    run_id, written, held = replay(path.resolve())
    click.echo(f"run {run_id}: {written} of {held} points written "
               f"({held - written} were already there)")


@cli.command()
@click.option("--rows", type=int, default=20_000, show_default=True)
@click.option("--epochs", type=int, default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_quiet_workers
def demo(rows: int, epochs: int, as_json: bool) -> None:
    """The main job on the embedded defaults: train, track and register the demo classifier."""
    import workbench as wb
    from workbench.config import settings
    from workbench.tracking.store import display_uri

    data = _demo_data(rows, 0)
    job = wb.train(DEMO_FN, params={"epochs": epochs}, data=data, run_name="demo",
                   register=DEMO_MODEL, seed=0, progress=not as_json)
    result = _wait(job)
    out = {**result.to_dict(), "status": job.status(),
           "registered": _registered_version(DEMO_MODEL, job.run_id),
           "tracking_uri": display_uri(settings().tracking_uri)}
    if as_json:
        _emit(out)
        return
    _print_result(out)
    click.echo(f"\nbrowse it: mlflow ui --backend-store-uri {out['tracking_uri']}")
