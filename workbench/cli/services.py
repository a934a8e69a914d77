"""`workbench services up|down|status|env`: the shared services on loopback."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from workbench.cli.base import _emit, cli


@cli.group()
def services() -> None:
    """PostgreSQL, an MLflow tracking server (basic auth, proxied artifacts) and a dask
    scheduler with workers, on 127.0.0.1; their state in $WORKBENCH_HOME/services."""


@services.command()
@click.option("--workers", type=int, default=2, show_default=True,
              help="dask worker processes (with GPUs: one `dask cuda worker`, a worker per GPU)")
@click.option("--postgres-uri", default=None, envvar="WORKBENCH_POSTGRES_URI",
              help="use your PostgreSQL server (postgresql://user:password@host:port) instead "
              "of starting one; kept in credentials.json (mode 0600)")
@click.option("--postgres-port", type=int, default=None, help="default: a free port, kept")
@click.option("--mlflow-port", type=int, default=None, help="default: a free port, kept")
@click.option("--scheduler-port", type=int, default=None, help="default: a free port, kept")
@click.option("--dashboard-port", type=int, default=None,
              help="the dask dashboard's; default: a free port, kept")
@click.option("--data-root", "data_roots", multiple=True, type=click.Path(file_okay=False),
              help="a folder whose files the tracking server may read for data gates "
              "(repeatable; default: the project root)")
@click.option("--json", "as_json", is_flag=True)
def up(workers: int, postgres_uri: str | None, postgres_port: int | None,
       mlflow_port: int | None, scheduler_port: int | None, dashboard_port: int | None,
       data_roots: tuple[str, ...], as_json: bool) -> None:
    """Start the services that are not running (running them twice changes nothing)."""
    from workbench.services import up as start

    done = start(workers=workers, postgres_uri=postgres_uri, data_roots=data_roots,
                 ports={"postgres": postgres_port, "mlflow": mlflow_port,
                        "scheduler": scheduler_port, "dashboard": dashboard_port},
                 say=lambda line: click.echo(f"workbench: {line}", err=True))
    if as_json:
        _emit(done)
        return
    _table(done["services"])
    click.echo("\nuse them in this shell:  eval \"$(workbench services env)\"")


@services.command()
@click.option("--json", "as_json", is_flag=True)
def down(as_json: bool) -> None:
    """Stop every service; the data, ports and credentials are kept for the next `up`."""
    from workbench.services import down as stop

    done = stop()
    if as_json:
        _emit(done)
    else:
        click.echo("stopped: " + (", ".join(done["stopped"]) or "nothing was running"))


@services.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Each service's health, with the fix for what is wrong; exit 1 if any is not ok."""
    from workbench.services import status as health

    rows = health()
    if as_json:
        _emit({"ok": all(r["state"] == "ok" for r in rows), "services": rows})
    else:
        _table(rows)
    if any(r["state"] != "ok" for r in rows):
        sys.exit(1)


@services.command("add-user")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def add_user(name: str, as_json: bool) -> None:
    """A tracking-server login for one person, with a generated password (shown once: give
    it to them); prints the environment that uses it."""
    from workbench.services.stack import add_user as create

    env = create(name)
    if as_json:
        _emit({"env": env})
        return
    for key, value in env.items():
        click.echo(f"export {key}={shlex.quote(value)}")


@services.command()
def env() -> None:
    """`export` lines for a shell: eval "$(workbench services env)"."""
    from workbench.services import environment

    for key, value in environment().items():
        click.echo(f"export {key}={shlex.quote(value)}")


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape

    marks = {"ok": "[green]ok[/]", "stopped": "[dim]stopped[/]", "stale": "[yellow]stale[/]",
             "fail": "[red]FAIL[/]"}
    console = Console()
    for r in rows:
        fix = f"  [dim]fix:[/] {escape(r['fix'])}" if r["fix"] else ""
        console.print(f"{marks.get(r['state'], r['state']):>16}  {r['service']:<10} "
                      f"{escape(r['address']):<28} {escape(r['detail'])}{fix}", highlight=False)
