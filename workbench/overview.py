"""Each model at a glance, as the cockpit and Lab's sidebar show it: its champion, the requests
waiting for a second approver, and its newest drift check against the retraining threshold."""

from __future__ import annotations

from typing import Any


def model_overview() -> list[dict[str, Any]]:
    """Per model (registered or drift-checked), by name: `champion` (a version or None),
    `pending` (the open requests: request_id, kind, run_id, requester, reason, at) and `drift`
    (None before a first check, else share, threshold, drifting, at, run_id)."""
    import workbench as wb

    registered = set(wb.models())
    rows = []
    for name in sorted(registered | set(wb.drift_models())):
        history = wb.drift_history(name, newest=1)  # read every few seconds: one check only
        last = history.iloc[-1] if len(history) else None
        try:
            threshold = wb.drift_policy(name).threshold
        except wb.WorkbenchError:
            threshold = 0.5
        known = name in registered  # a pilot can be drift-checked before it is registered
        pending = wb.pending(name) if known else []
        rows.append({
            "model": name, "champion": wb.champion(name) if known else None,
            "pending": [{"request_id": f"{name}/{e['seq']}", "kind": e.get("kind", "promotion"),
                         "run_id": e.get("run_id"), "requester": e.get("requester"),
                         "reason": e.get("reason"), "at": e.get("at")} for e in pending],
            "drift": None if last is None else {
                "share": float(last["share"]), "threshold": threshold,
                "drifting": float(last["share"]) >= threshold,
                "at": last["time"].isoformat(timespec="minutes"), "run_id": str(last["run_id"])}})
    return rows
