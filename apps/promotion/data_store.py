"""What the promotion dashboard shows, read through the workbench API (no panel here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

import workbench as wb


def models() -> list[str]:
    """Registered models, without workbench's internal ones (locks, leases)."""
    return wb.models()


def summary(model: str) -> dict[str, Any]:
    """Champion, pending requests and the history (newest first) of one model."""
    entries = wb.history(model)
    check = wb.verify_history(model)
    return {"champion": wb.champion(model),
            "pending": wb.pending(model), "history_ok": check.ok, "history_check": check.why,
            "history": history_frame(entries)}


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
