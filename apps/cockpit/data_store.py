"""What the cockpit shows, through the workbench API (no panel here): the dask cluster, the
runs training now, each model's champion and drift, the pipelines' last runs and next slots.
Each part is read on its own: a part that fails says why and the others still show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import workbench as wb

PARTS = ("cluster", "running", "models", "pipelines")


@dataclass
class Reading:
    """Every part's data, or the one line saying why it could not be read."""

    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read(root: Path) -> Reading:
    reading = Reading()
    for part, reader in (("cluster", wb.cluster_status), ("running", running),
                         ("models", models), ("pipelines", lambda: wb.pipeline.status(root=root))):
        try:
            reading.data[part] = reader()
        except Exception as exc:  # a store or cluster gone away: say so, show the rest
            reading.errors[part] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}" \
                if str(exc) else type(exc).__name__
    return reading


def running(limit: int = 20) -> list[dict[str, Any]]:
    """Runs RUNNING now, newest first, with their latest metrics."""
    return wb.search_runs(status="RUNNING", page_size=limit).rows


def models() -> list[dict[str, Any]]:
    """Per model (registered or drift-checked): the champion, pending requests, the newest
    drift check against the retraining threshold."""
    registered = set(wb.models())
    rows = []
    for name in sorted(registered | set(wb.drift_models())):
        history = wb.drift_history(name, newest=1)  # every 5 s: one check, not them all
        last = history.iloc[-1] if len(history) else None
        try:
            threshold = wb.drift_policy(name).threshold
        except wb.WorkbenchError:
            threshold = 0.5
        known = name in registered  # a pilot can be drift-checked before it is registered
        rows.append({"model": name, "champion": wb.champion(name) if known else None,
                     "pending": len(wb.pending(name)) if known else 0,
                     "drift_share": None if last is None else float(last["share"]),
                     "drift_at": None if last is None else last["time"].isoformat(
                         timespec="minutes"),
                     "threshold": threshold,
                     "drifting": last is not None and float(last["share"]) >= threshold})
    return rows
