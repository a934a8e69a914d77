"""`workbench doctor`, `lab`, `dashboard`: the machine and the servers on it."""

from __future__ import annotations

import sys

import click

from workbench.cli.base import (
    _emit,
    cli,
)
from workbench.config import project_root


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


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=8888, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="interface to bind; Jupyter's token is required either way")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also run `workbench scheduler` for ./pipelines while Lab runs")
@click.option("--no-browser", is_flag=True)
@click.option("--allow-root", is_flag=True,
              help="run as root (containers); Jupyter refuses root without it")
@click.argument("lab_args", nargs=-1, type=click.UNPROCESSED)
def lab(port: int, address: str, with_scheduler: bool, no_browser: bool, allow_root: bool,
        lab_args: tuple[str, ...]) -> None:
    """JupyterLab on this project (extra arguments go to `jupyter lab`)."""

    from workbench.lab import lab as run_lab

    code = run_lab(project_root(), port=port, address=address,
                   with_scheduler=with_scheduler, open_browser=not no_browser,
                   allow_root=allow_root, extra_args=lab_args,
                   say=lambda line: click.echo(line, err=True))
    sys.exit(code)


@cli.command()
@click.option("--port", type=int, default=5006, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="interface to bind; the login is required either way")
@click.option("--basic-auth", multiple=True, help="USER:PASSWORD for a login, repeated for "
              "each person (default: user 'workbench' and a generated password, printed)")
@click.option("--cookie-secret", default=None, envvar="WORKBENCH_COOKIE_SECRET",
              help="signs login cookies (default: random; env WORKBENCH_COOKIE_SECRET keeps it "
              "off the command line)")
@click.option("--oauth-provider", default=None, help="log in with Panel's OAuth provider "
              "(github, google, azure, okta, gitlab, auth0, generic, ...) instead of "
              "passwords; its client id and secret come from PANEL_OAUTH_KEY and "
              "PANEL_OAUTH_SECRET, a generic provider's URLs from PANEL_OAUTH_AUTHORIZE_URL, "
              "PANEL_OAUTH_TOKEN_URL and PANEL_OAUTH_USER_URL")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also run `workbench scheduler` for ./pipelines while it serves")
def dashboard(port: int, address: str, basic_auth: tuple[str, ...],
              cookie_secret: str | None, oauth_provider: str | None,
              with_scheduler: bool) -> None:
    """Panel dashboards (cockpit, runs, training, drift, promotion) behind a login; actions
    are recorded with the logged-in user."""

    from workbench.dashboard import dashboard as serve

    sys.exit(serve(project_root(), port=port, address=address, basic_auth=basic_auth,
                   cookie_secret=cookie_secret, oauth_provider=oauth_provider,
                   with_scheduler=with_scheduler, say=lambda line: click.echo(line, err=True)))
