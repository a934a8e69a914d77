"""`workbench doctor`, `lab`, `dashboard`: the machine and the servers on it."""

from __future__ import annotations

import sys
from pathlib import Path

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
        from rich.markup import escape

        console = Console()
        for f in findings:  # details are text, not markup: "[tool.workbench]" stays as written
            fix = f"  [dim]fix:[/] {escape(f.fix)}" if f.fix else ""
            console.print(f"{marks[f.status]:>14}  {escape(f.check):<12} {escape(f.detail)}{fix}",
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
@click.option("--users-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="logins when the tracking store checks none (the embedded store): JSON "
              "{user: password} or user:password lines, mode 0600; or set "
              "WORKBENCH_DASHBOARD_USERS=user:password,... (default: user 'workbench' and a "
              "generated password, printed). A tracking server with basic auth checks "
              "logins itself: people sign in with their tracking-server login")
@click.option("--oauth-provider", default=None, help="log in with Panel's OAuth provider "
              "(github, google, azure, okta, gitlab, auth0, generic, ...) instead of "
              "passwords; its client id and secret come from PANEL_OAUTH_KEY and "
              "PANEL_OAUTH_SECRET, a generic provider's URLs from PANEL_OAUTH_AUTHORIZE_URL, "
              "PANEL_OAUTH_TOKEN_URL and PANEL_OAUTH_USER_URL")
@click.option("--scheduler", "with_scheduler", is_flag=True,
              help="also run `workbench scheduler` for ./pipelines while it serves")
# kept only to refuse them: a command line shows its secrets to every local user (`ps`)
@click.option("--basic-auth", multiple=True, hidden=True)
@click.option("--cookie-secret", default=None, hidden=True)
def dashboard(port: int, address: str, users_file: Path | None, oauth_provider: str | None,
              with_scheduler: bool, basic_auth: tuple[str, ...],
              cookie_secret: str | None) -> None:
    """Panel dashboards (cockpit, runs, training, drift, promotion) behind a login; actions
    are taken as the signed-in person (on a tracking server with basic auth, with their own
    login). Cookies are signed with WORKBENCH_COOKIE_SECRET (default: random per start)."""
    from workbench.errors import ConfigError

    if basic_auth:
        raise ConfigError("--basic-auth puts passwords on the command line, where `ps` shows "
                          "them: use --users-file PATH (mode 0600) or WORKBENCH_DASHBOARD_USERS")
    if cookie_secret:
        raise ConfigError("--cookie-secret puts the secret on the command line, where `ps` "
                          "shows it: set WORKBENCH_COOKIE_SECRET (or PANEL_COOKIE_SECRET)")
    from workbench.dashboard import dashboard as serve

    sys.exit(serve(project_root(), port=port, address=address, users_file=users_file,
                   oauth_provider=oauth_provider, with_scheduler=with_scheduler,
                   say=lambda line: click.echo(line, err=True)))
