"""`workbench promote`, `approve`, `decline`, `rollback`, `unlock`, `history`, `dossier`.

Every failure is one `error:` line and exit 1, MLflow's exceptions included, with any
credentials in it masked.
"""

from __future__ import annotations

import json
import sys

import click

from workbench.cli.base import (
    _emit,
    _write_html,
    cli,
)


@cli.command()
@click.argument("model")
@click.option("--run", "run_id", required=True, help="the run whose model to promote")
@click.option("--approver", default=None, help="who approves (recorded): required on the "
              "embedded store; on a governing tracking server your login (the default)")
@click.option("--reason", default="", help="why (recorded); required")
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
def promote(model: str, run_id: str, approver: str | None, reason: str, require: tuple[str, ...],
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
@click.option("--approver", default=None, help="who approves (not the requester); on a "
              "governing tracking server your login (the default)")
@click.option("--reason", default="", help="why (recorded); required")
@click.option("--json", "as_json", is_flag=True)
def approve(request: str, approver: str | None, reason: str, as_json: bool) -> None:
    """Complete a four-eyes promotion REQUEST (MODEL/N, as promote printed it)."""
    from workbench.promotion.promote import approve as do_approve

    record = do_approve(request, approver=approver, reason=reason)
    if as_json:
        _emit(record.to_dict())
        return
    click.echo(f"{record.model} v{record.version} is now champion (approved by "
               f"{record.approver})")


@cli.command()
@click.argument("request")
@click.option("--approver", default=None, help="who decides (or the requester withdraws); "
              "on a governing tracking server your login (the default)")
@click.option("--reason", default="", help="why (recorded); required")
@click.option("--json", "as_json", is_flag=True)
def decline(request: str, approver: str | None, reason: str, as_json: bool) -> None:
    """Close a pending promotion REQUEST (MODEL/N) without promoting."""
    from workbench.promotion.promote import decline as do_decline

    entry = do_decline(request, approver=approver, reason=reason)
    if as_json:
        _emit(entry)
        return
    click.echo(f"request {request} declined by {entry['approver']}; nothing moved")


@cli.command()
@click.argument("model")
@click.option("--to", "to_version", default=None, help="an earlier champion to return to "
              "(default: the champion before the current one)")
@click.option("--approver", default=None, help="who decides (recorded); on a governing "
              "tracking server your login (the default)")
@click.option("--reason", default="", help="why (recorded); required")
@click.option("--json", "as_json", is_flag=True)
def rollback(model: str, to_version: str | None, approver: str | None, reason: str,
             as_json: bool) -> None:
    """Move MODEL's champion back to the champion before it (or to an earlier one, --to).

    Under a four-eyes policy this makes a request someone else approves, unless the model's
    workbench.policy.rollback tag is `emergency`."""
    from workbench.promotion.rollback import rollback as do_rollback

    entry = do_rollback(model, to_version=to_version, approver=approver, reason=reason)
    if as_json:
        _emit(entry)
        return
    if entry["action"] == "requested":
        click.echo(f"rollback request {entry['request_id']} to v{entry['version']} is pending; "
                   f"someone other than {entry['requester']} completes it with: workbench approve "
                   f"{entry['request_id']} --approver WHO --reason WHY")
        return
    note = " (emergency rollback, no second approval)" if entry.get("emergency") else ""
    click.echo(f"{model}: champion v{entry['previous']} -> v{entry['version']}{note}")


@cli.command()
@click.argument("model")
@click.option("--approver", default=None, help="who clears the lock (recorded); on a "
              "governing tracking server your login (the default)")
@click.option("--reason", default="", help="why (recorded); required")
@click.option("--json", "as_json", is_flag=True)
def unlock(model: str, approver: str | None, reason: str, as_json: bool) -> None:
    """Clear MODEL's promotion lock left by a crashed process (recorded in the history).

    A holder still heart-beating is refused; a waiter takes a silent holder's lock over by
    itself after a minute."""
    from workbench.promotion.rollback import unlock as do_unlock

    entry = do_unlock(model, approver=approver, reason=reason)
    if as_json:
        _emit(entry)
        return
    click.echo(f"{model}: cleared the promotion lock of {entry['holder']} (silent for "
               f"{entry['last_heartbeat_s']:.0f}s)")


@cli.command()
@click.argument("model")
@click.option("--verify", is_flag=True, help="check the hash chain; exit 1 if it is broken")
@click.option("--json", "as_json", is_flag=True)
def history(model: str, verify: bool, as_json: bool) -> None:
    """MODEL's promotions, requests, rejections, rollbacks and unlocks, oldest first.

    --verify checks the hash chain, its head, the live champion alias and, with
    WORKBENCH_HISTORY_KEY set, every entry's MAC."""
    from workbench.promotion.queries import history as read
    from workbench.promotion.queries import verify_history
    from workbench.promotion.registry import pending_requests

    if verify:
        check = verify_history(model)
        if as_json:
            _emit({"ok": check.ok, "detail": check.why})
        else:
            click.echo(f"{model}: {check.why}")
        if not check.ok:
            sys.exit(1)
        return
    entries = read(model)
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
