"""`workbench policy` and `workbench governance adopt`."""

from __future__ import annotations

import click

from workbench.cli.base import _emit, cli


@cli.command()
@click.argument("model")
@click.option("--four-eyes/--no-four-eyes", "four_eyes", default=None,
              help="a second person approves each promotion (off relaxes: admins only on a "
              "governing server)")
@click.option("--rollback", type=click.Choice(["emergency", "four-eyes"]), default=None,
              help="how rollbacks of a four-eyes model are decided (emergency relaxes)")
@click.option("--from-spec", is_flag=True,
              help="hold the gates the project's pipeline for MODEL declares")
@click.option("--reason", default=None, help="why (recorded); required for a change")
@click.option("--approver", default=None,
              help="who changes it (embedded store); on a governing server your login")
@click.option("--json", "as_json", is_flag=True)
def policy(model: str, four_eyes: bool | None, rollback: str | None, from_spec: bool,
           reason: str | None, approver: str | None, as_json: bool) -> None:
    """Show MODEL's governance policy, or change it (each change is a history entry).

    Its owner may tighten it; only an admin may relax it."""
    from workbench.governance.actions import policy as run

    done = run(model, reason=reason, four_eyes=four_eyes, rollback=rollback,
               from_spec=from_spec, approver=approver)
    if as_json:
        _emit(done)
        return
    held = done.get("policy", done)
    if "changed" in done:
        said = ", ".join(done["changed"]) or "nothing (already so)"
        click.echo(f"{model}: changed {said}")
    gates = held.get("gates") or {}
    listed = [*gates.get("metrics", []), *(f"beat champion on {b['metric']}"
                                           for b in gates.get("beats", [])),
              *(f"data {d}" for d in gates.get("data", []))]
    click.echo(f"{model}: four eyes {'on' if held['four_eyes'] else 'off'}; rollback "
               f"{held['rollback']}; gates: {', '.join(listed) or 'none'}")


@cli.group()
def governance() -> None:
    """Put models under a governing tracking server's rule."""


@governance.command()
@click.argument("model")
@click.option("--reason", required=True, help="why (recorded)")
@click.option("--json", "as_json", is_flag=True)
def adopt(model: str, reason: str, as_json: bool) -> None:
    """Put MODEL, promoted before governance (or migrated here), under the server's rule."""
    from workbench.governance.actions import adopt as run

    entry = run(model, reason=reason)
    if as_json:
        _emit(entry)
        return
    click.echo(f"{model}: governed by the tracking server from entry {entry['seq']} (its "
               f"{entry.get('entries_before', 0)} earlier entries checked and kept)")
