"""`workbench migrate`: the embedded store copied to a tracking server, then verified."""

from __future__ import annotations

import sys
from typing import Any

import click

from workbench.cli.base import _emit, cli


@cli.command()
@click.option("--to", "target", required=True, metavar="URI",
              help="the store to copy into: a tracking server (http://...) or a database URI")
@click.option("--from", "source", default=None, metavar="URI",
              help="the store to copy (default: the embedded one, $WORKBENCH_HOME/mlflow.db)")
@click.option("--check", is_flag=True, help="compare only: copy nothing")
@click.option("--json", "as_json", is_flag=True)
def migrate(target: str, source: str | None, check: bool, as_json: bool) -> None:
    """Copy experiments, runs, logged models, registered models and the promotion history,
    then compare both stores (counts and digests) and verify each history there. Safe to run
    again: only what the target lacks is copied. Exit 1 unless everything matched."""
    from workbench.migration import migrate as run

    report = run(target, source, check_only=check,
                 say=lambda line: click.echo(line, err=True))
    if as_json:
        _emit(report)
    else:
        _summary(report)
    if not report["ok"]:
        sys.exit(1)


def _summary(report: dict[str, Any]) -> None:
    verb = "compared" if report["check_only"] else "migrated"
    click.echo(f"{verb} {report['from']} -> {report['to']}")
    for name, kind in report["kinds"].items():
        extra = f", {kind['metric_points']} metric points" if "metric_points" in kind else ""
        click.echo(f"  {name:<18} {kind['matched']}/{kind['source']} match{extra}")
        for line in kind["differ"][:20]:
            click.echo(f"    differs: {line}")
    for line in report["refused"]:
        click.echo(f"  refused: {line}")
    if report["ok"]:
        click.echo(f"complete: use it with  export MLFLOW_TRACKING_URI={report['to']}")
