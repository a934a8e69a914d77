"""What the drift dashboard shows and does, through the workbench API (no panel here): a
model's drift history with its threshold and retrainings, one check's per-column verdicts and
Evidently report, and new checks from a path inside the project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import workbench as wb
from workbench.errors import WorkbenchError

COLUMNS = ["column", "type", "test", "score", "threshold", "drifted"]


@dataclass(frozen=True)
class Outcome:
    """What an action did, as the page says it: `ok`, one line, and the check it made."""

    ok: bool
    message: str
    run_id: str | None = None
    result: Any = field(default=None, compare=False)  # a DriftResult (two datasets)


def models() -> list[str]:
    """Models with drift checks, then registered models not yet checked."""
    checked = wb.drift_models()
    return checked + [m for m in wb.models() if m not in checked]


def overview(model: str, root: Path | None = None) -> dict[str, Any]:
    """The history of checks (oldest first), the threshold that retrains, the retrainings and
    the newest check's stored result."""
    history = wb.drift_history(model)
    try:
        threshold = wb.drift_policy(model, root=root).threshold
        policy_note = ""
    except WorkbenchError as exc:  # an unreadable spec: say so, draw the default
        threshold, policy_note = 0.5, str(exc)
    latest = str(history["run_id"].iloc[-1]) if len(history) else None
    return {"history": history, "threshold": threshold, "policy_note": policy_note,
            "retrainings": wb.drift_retrainings(model), "latest": latest,
            "result": wb.drift_result(latest) if latest else None}


def column_rows(result: dict[str, Any] | None) -> pd.DataFrame:
    """One row per tested column of a stored result, drifted first, then by score."""
    if not result:
        return pd.DataFrame(columns=COLUMNS)
    rows = [{"column": c, "type": d["column_type"], "test": d["method"],
             "score": float(f"{d['score']:.4g}"), "threshold": d["threshold"],
             "drifted": bool(d["drifted"])} for c, d in result["columns"].items()]
    frame = pd.DataFrame(rows, columns=COLUMNS).sort_values(
        ["drifted", "column"], ascending=[False, True], kind="stable").reset_index(drop=True)
    frame["drifted"] = frame["drifted"].map({True: "yes", False: "no"})
    return frame


def report(run_id: str) -> str:
    return wb.drift_report(run_id)


def check(model: str, path: str, root: Path, *, user: str | None = None) -> Outcome:
    """A new check of the data at `path` (inside the project) against the model's champion,
    logged to its history (tagged with who asked); it never starts a retraining."""
    from workbench.tracking.store import tracking_client

    data = _project_file(path, root)
    if isinstance(data, Outcome):
        return data
    try:
        done = wb.check_drift(model, data, root=root)
    except WorkbenchError as exc:
        return Outcome(False, str(exc).splitlines()[0])
    if user:
        tracking_client().set_tag(done.check_run_id, "workbench.checked_by", user)
    return Outcome(True, f"{model}: {done.reason}", run_id=done.check_run_id)


def compare(reference: str, current: str, root: Path) -> Outcome:
    """Drift between two datasets of the project (nothing is logged)."""
    paths = [_project_file(p, root) for p in (reference, current)]
    for found in paths:
        if isinstance(found, Outcome):
            return found
    try:
        result = wb.drift(*paths)
    except WorkbenchError as exc:
        return Outcome(False, str(exc).splitlines()[0])
    return Outcome(True, result.summary(), result=result)


def _project_file(path: str, root: Path) -> Path | Outcome:
    from workbench.project import project_path

    if not path.strip():
        return Outcome(False, "give the path of a Parquet or CSV file or folder, relative to "
                              "the project root")
    try:
        resolved = project_path(path.strip(), root)
    except WorkbenchError:
        return Outcome(False, f"{path.strip()} is outside the project {root}; the dashboard "
                              "reads data from the project only")
    if not resolved.exists():
        return Outcome(False, f"{path.strip()} does not exist under the project {root}")
    return resolved
