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
    """Per model: the champion, how many requests wait, the newest drift check's verdict (the
    one every surface shows: `verdict` its line, `fired` the signals, `why`, `drifting`)."""
    from workbench.overview import model_overview

    rows = []
    for m in model_overview():
        check = m["drift"]
        rows.append({"model": m["model"], "champion": m["champion"],
                     "pending": len(m["pending"]),
                     "drift_share": None if check is None else check["share"],
                     "drift_at": None if check is None else check["at"],
                     "threshold": None if check is None else check["threshold"],
                     "drifting": check is not None and check["drifting"],
                     "fired": [] if check is None else check["fired"],
                     "verdict": None if check is None else check["text"],
                     "why": None if check is None else check["why"]})
    return rows
