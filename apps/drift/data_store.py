"""What the drift dashboard shows and does, through the workbench API (no panel here): a
model's drift history with its threshold and retrainings, each check's verdict (the one every
surface shows: `workbench.monitoring.verdict`, judged at the threshold the check recorded) and
its signals over time, the newest check's signals, per-column verdicts and Evidently report,
and new checks from a path inside the project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import workbench as wb
from workbench.errors import WorkbenchError

COLUMNS = ["column", "type", "test", "score", "threshold", "drifted"]
SIGNAL_COLUMNS = ["signal", "fired", "value", "fires at", "detail"]


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
    """The history of checks (oldest first; each with the threshold it recorded and its
    verdict: `threshold`, `state`, `fired_signals`, `verdict`), the policy's threshold that
    retrains now, the retrainings, and the newest check: its stored result, its verdict and
    its signals."""
    from workbench.monitoring.verdict import check_signals, of_run
    from workbench.tracking.store import tracking_client

    history = wb.drift_history(model)
    try:
        threshold = wb.drift_policy(model, root=root).threshold
        policy_note = ""
    except WorkbenchError as exc:  # an unreadable spec: say so, draw the default
        threshold, policy_note = 0.5, str(exc)
    latest = str(history["run_id"].iloc[-1]) if len(history) else None
    result = wb.drift_result(latest) if latest else None
    judged, signals = None, []
    if latest:
        run = tracking_client().get_run(latest)
        judged = of_run(run.data.tags, run.data.metrics, run.data.params, result)
        signals = check_signals(_recorded_signals(latest), judged, result)
    return {"history": with_verdicts(history, _thresholds(model) if len(history) else {}),
            "threshold": threshold, "policy_note": policy_note,
            "retrainings": wb.drift_retrainings(model), "latest": latest, "result": result,
            "verdict": judged, "signals": signals}


def with_verdicts(history: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """`history` with each check's recorded threshold and its verdict (state, the signals
    that fired, the line every surface shows)."""
    from workbench.monitoring.verdict import DEFAULT_THRESHOLD, verdict

    frame = history.copy()
    judged = []
    for _, row in frame.iterrows():
        values = {key[len("signal."):-len(".value")]: float(v) for key, v in row.items()
                  if isinstance(key, str) and key.startswith("signal.")
                  and key.endswith(".value") and pd.notna(v)}
        fired = row.get("fired")
        judged.append(verdict(share=float(row["share"]) if pd.notna(row["share"]) else 0.0,
                              threshold=thresholds.get(str(row["run_id"]), DEFAULT_THRESHOLD),
                              fired=fired if isinstance(fired, str) else None, values=values))
    frame["threshold"] = [j["threshold"] for j in judged]
    frame["state"] = [j["state"] for j in judged]
    frame["fired_signals"] = [j["fired"] for j in judged]
    frame["verdict"] = [j["text"] for j in judged]
    return frame


def signal_rows(signals: list[dict[str, Any]]) -> pd.DataFrame:
    """The newest check's signals, one row each (fired first; names and details as text)."""
    rows = [{"signal": s["name"], "fired": "yes" if s["fired"] else "no",
             "value": "-" if s["value"] is None else f"{float(s['value']):.4g}",
             "fires at": s["threshold"] or "-", "detail": s["detail"]} for s in signals]
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS)


def _thresholds(model: str) -> dict[str, float]:
    """run id -> the threshold each of `model`'s checks recorded (one paged search)."""
    from workbench.monitoring.history import KIND_TAG, MODEL_TAG, MONITORING_EXPERIMENT
    from workbench.monitoring.verdict import recorded_threshold
    from workbench.tracking.store import filter_literal, tracking_client

    client = tracking_client()
    found = client.get_experiment_by_name(MONITORING_EXPERIMENT)
    if found is None:
        return {}
    query = f"tags.`{MODEL_TAG}` = {filter_literal(model)} and tags.`{KIND_TAG}` = 'drift'"
    out: dict[str, float] = {}
    token = None
    while True:
        page = client.search_runs([found.experiment_id], filter_string=query,
                                  max_results=1000, page_token=token)
        out.update({str(r.info.run_id): recorded_threshold(r.data.params) for r in page})
        token = page.token
        if not token:
            return out


def _recorded_signals(run_id: str) -> list[dict[str, Any]] | None:
    """The signals a monitor's check recorded (`monitor/signals.json`); None for a plain
    check, which has none."""
    import json

    from workbench.runs import artifact_bytes

    try:
        found = json.loads(artifact_bytes(run_id, "monitor/signals.json"))
    except (WorkbenchError, ValueError):
        return None
    return found if isinstance(found, list) else None


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
