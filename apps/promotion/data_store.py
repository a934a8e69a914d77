"""What the promotion dashboard shows, read through the workbench API (no panel here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

LOCK_SUFFIX = ".promotion-lock"


def models() -> list[str]:
    """Registered models, without workbench's lock entries."""
    from workbench.tracking.store import tracking_client

    names = [m.name for m in tracking_client().search_registered_models(max_results=1000)]
    return sorted(n for n in names if not n.endswith(LOCK_SUFFIX))


def summary(model: str) -> dict[str, Any]:
    """Champion, pending requests and the history (newest first) of one model."""
    from workbench.promotion import registry
    from workbench.promotion.ledger import verify
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    entries = registry.read_history(client, model)
    pending = registry.pending_requests(model, entries)
    ok, why = verify(entries)
    return {"champion": registry.champion_version(client, model),
            "pending": pending, "history_ok": ok, "history_check": why,
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
