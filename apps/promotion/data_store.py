"""What the promotion dashboard shows and does, through the workbench API (no panel here).

Every decision is taken as the signed-in person (`SignedIn`): their login is the approver,
and the calls run inside `acting_as` their own tracking-server login when the dashboard holds
its password, so a governing server verifies the same person (on the embedded store the
dashboard's login is the name recorded). Four-eyes then compares logins, never a typed name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

import workbench as wb
from workbench_apps.identity import SignedIn


@dataclass(frozen=True)
class Outcome:
    """What an action did, as the page says it: `ok`, and one line."""

    ok: bool
    message: str


def models() -> list[str]:
    """Registered models, without workbench's internal ones (locks, leases)."""
    return wb.models()


def summary(model: str) -> dict[str, Any]:
    """Champion, pending requests, the version a rollback would return to, and the history
    (newest first) of one model; the history is read once."""
    entries = wb.history(model)
    check = wb.verify_history(model)
    return {"champion": wb.champion(model), "pending": wb.pending(model, entries),
            "rollback_to": wb.rollback_target(model, entries),
            "history_ok": check.ok, "history_check": check.why, "versions": versions(model),
            "history": history_frame(entries)}


def decide(request_id: str, decision: str, *, who: SignedIn, reason: str) -> Outcome:
    """Approve or decline pending request `request_id` ("MODEL/SEQ") as `who`."""
    if decision not in ("approve", "decline"):
        raise ValueError(f"decision is approve or decline, not {decision!r}")
    refused = _refuse(who, reason)
    if refused:
        return refused
    try:
        with who.acting():
            if decision == "approve":
                record = wb.approve(request_id, reason=reason, approver=who.user)
                return Outcome(True, f"approved {request_id}: {record.model} v{record.version} "
                                     "is the champion")
            wb.decline(request_id, reason=reason, approver=who.user)
            return Outcome(True, f"declined {request_id}")
    except wb.WorkbenchError as exc:
        return Outcome(False, _first_line(exc))


def roll_back(model: str, to_version: str, *, who: SignedIn, reason: str) -> Outcome:
    """Move `model`'s champion back to `to_version` as `who` (a request under four-eyes)."""
    refused = _refuse(who, reason)
    if refused:
        return refused
    try:
        with who.acting():
            entry = wb.rollback(model, reason=reason, approver=who.user, to_version=to_version)
    except wb.WorkbenchError as exc:
        return Outcome(False, _first_line(exc))
    if entry.get("action") == "requested":
        return Outcome(True, f"rollback to v{to_version} requested as {entry['request_id']}: "
                             "another person approves it")
    return Outcome(True, f"rolled back: {model} v{to_version} is the champion")


def versions(model: str) -> list[str]:
    """Every registered version of `model`, newest first."""
    from workbench.tracking.store import filter_literal, tracking_client

    found = tracking_client().search_model_versions(f"name = {filter_literal(model)}")
    return [str(v) for v in sorted((int(v.version) for v in found), reverse=True)]


def dossier_page(model: str, version: str) -> str:
    """The dossier of one version as one self-contained page (every value escaped)."""
    from workbench.promotion.dossier import to_html

    return to_html(wb.dossier(model, version))


def history_frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["seq", "at", "action", "version", "previous", "run_id", "who", "reason", "gates"]
    rows = [{"seq": e.get("seq"), "at": e.get("at"), "action": e.get("action"),
             "version": e.get("version"), "previous": e.get("previous"),
             "run_id": e.get("run_id"), "who": e.get("approver") or e.get("requester"),
             "reason": e.get("reason"),
             "gates": "; ".join(f"{'ok' if g.get('passed') else 'FAILED'} {g.get('gate')}"
                                for g in e.get("gates", []))}
            for e in reversed(entries)]
    return pd.DataFrame(rows, columns=columns)


def _refuse(who: SignedIn, reason: str) -> Outcome | None:
    said = who.refusal()
    if said:
        return Outcome(False, said)
    if not reason.strip():
        return Outcome(False, "write a reason first: the history records why")
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
