"""`workbench init`."""

from __future__ import annotations

import click

from workbench.cli.base import _emit, cli


@cli.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="the project's name in a new pyproject.toml")
@click.option("--json", "as_json", is_flag=True)
def init(folder: str, name: str | None, as_json: bool) -> None:
    """Make FOLDER (default: here) a workbench project: a pilot notebook, pipelines/, data/,
    [tool.workbench] in pyproject.toml and .gitignore lines; existing files are kept."""
    from workbench.project_init import init_project

    done = init_project(folder, name=name)
    if as_json:
        _emit({"root": str(done.root), "written": done.written, "kept": done.kept,
               "next": done.next_commands()})
        return
    click.echo(f"workbench project in {done.root}")
    for path in done.written:
        click.echo(f"  wrote {path}")
    for path in done.kept:
        click.echo(f"  kept  {path} (already there)")
    click.echo("next:")
    for command in done.next_commands():
        click.echo(f"  {command}")
