"""`workbench drift`."""

from __future__ import annotations

import sys
from typing import Any

import click

from workbench.cli.base import (
    _emit,
    _write_html,
    cli,
)

DRIFT_EXIT = 3  # `drift --fail-on-drift` when drift is found (1 is an error)


@cli.command("drift")
@click.argument("reference", type=click.Path())
@click.argument("current", type=click.Path())
@click.option("--columns", default=None, help="comma-separated columns to compare (default: all)")
@click.option("--engine", type=click.Choice(["auto", "evidently", "dask"]), default="auto",
              show_default=True)
@click.option("--target", default=None, help="the label column: never tested as a feature")
@click.option("--prediction", default=None,
              help="the prediction column: never a feature; with --target, the model's metric "
                   "on each side is compared too")
@click.option("--skip", default=None,
              help="comma-separated columns to leave out (column_types 'skip')")
@click.option("--model", default=None, help="record the check in this model's drift history")
@click.option("--version", "model_version", default=None,
              help="model version checked (default: the champion alias, else the newest)")
@click.option("--run", "run_id", default=None, help="log the report and scores to this run")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="write Evidently's HTML report here")
@click.option("--fail-on-drift", is_flag=True, help=f"exit {DRIFT_EXIT} when the dataset drifts")
@click.option("--json", "as_json", is_flag=True)
def drift_command(reference: str, current: str, columns: str | None, engine: str,
                  target: str | None, prediction: str | None, skip: str | None,
                  model: str | None, model_version: str | None, run_id: str | None,
                  html_path: str | None, fail_on_drift: bool, as_json: bool) -> None:
    """Compare CURRENT data with REFERENCE data (Parquet/CSV files or directories)."""

    from workbench.monitoring.api import drift

    if model_version is not None and model is None:
        raise click.BadParameter("--version needs --model", param_hint="--version")
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    skipped = {c.strip(): "skip" for c in (skip or "").split(",") if c.strip()}
    result = drift(reference, current, columns=names, engine=engine, target=target,
                   prediction=prediction, column_types=skipped)
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
