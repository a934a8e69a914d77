"""Drift results in MLflow: the report and scores on a run, and the history of checks per model.

Every check logged with `model=` becomes one run in the monitoring experiment, tagged with the
model's name and version; `drift_history(model)` reads them back in time order.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.tracking.store import filter_literal

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from workbench.monitoring.result import DriftResult

MONITORING_EXPERIMENT = "workbench-monitoring"
KIND_TAG, MODEL_TAG, VERSION_TAG = "workbench.kind", "workbench.model", "workbench.model_version"
FIRED_TAG = "workbench.fired"  # a monitor's check: the signals that fired, comma-separated


def metric_keys(columns: list[str]) -> dict[str, str]:
    """MLflow-safe, distinct metric names for the columns' drift scores."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        # letters (any script), digits, _ - . space and : survive; no "/" so no path tricks
        clean = re.sub(r"[^\w\-. :]", "_", column).strip(" .")[:200] or "_"
        key = f"drift.score.{clean}"
        if key in used:  # two names that clean to the same key: tell them apart
            key = f"{key}_{hashlib.sha1(column.encode()).hexdigest()[:8]}"
        used.add(key)
        keys[column] = key
    return keys


def log_result(result: DriftResult, *, run_id: str | None, model: str | None,
               version: str | int | None, experiment: str | None,
               signals: list[dict[str, Any]] | None = None) -> str:
    from workbench.tracking.store import ensure_experiment, tracking_client

    if (run_id is None) == (model is None):
        raise ConfigError("pass either run_id= (log to that run) or model= (log to the model's "
                          "drift history), not both or neither")
    client = tracking_client()
    if run_id is not None:
        try:
            client.get_run(run_id)
        except Exception:
            raise ConfigError(f"no MLflow run {run_id!r} in {client.tracking_uri}; check the "
                              "run id") from None
        _write(client, run_id, result, signals)
        return run_id
    assert model is not None
    resolved = _model_version(client, model, version)
    experiment_id = ensure_experiment(client, experiment or MONITORING_EXPERIMENT)
    tags = {KIND_TAG: "drift", MODEL_TAG: model, VERSION_TAG: resolved or "",
            "workbench.drifted": str(result.drifted).lower()}
    if signals is not None:
        tags[FIRED_TAG] = ",".join(s["name"] for s in signals if s["fired"])
    run = client.create_run(experiment_id, run_name=f"drift {model}"
                            + (f" v{resolved}" if resolved else ""), tags=tags)
    new_id = str(run.info.run_id)
    try:
        _write(client, new_id, result, signals)
    except BaseException:
        client.set_terminated(new_id, "FAILED")
        raise
    client.set_terminated(new_id, "FINISHED")
    return new_id


def _model_version(client: MlflowClient, model: str, version: str | int | None) -> str | None:
    """The version checked: as given, else the `champion` alias, else the newest; None if the
    model is not registered (a pilot can be monitored before its first registration)."""
    if version is not None:
        return str(version)
    try:
        return str(client.get_model_version_by_alias(model, "champion").version)
    except Exception:
        pass
    try:
        versions = client.search_model_versions(f"name = {filter_literal(model)}")
    except Exception:
        return None
    return str(max(int(v.version) for v in versions)) if versions else None


def _write(client: MlflowClient, run_id: str, result: DriftResult,
           signals: list[dict[str, Any]] | None = None) -> None:
    """JSON first (small, what machines read), then scores, then the HTML report."""
    import json

    from mlflow.entities import Metric, Param

    client.log_text(run_id, result.to_json(), "drift/result.json")
    if signals is not None:
        client.log_text(run_id, json.dumps(signals, indent=2, default=str),
                        "monitor/signals.json")
    now = int(time.time() * 1000)
    metrics = [Metric("drift.share", result.share, now, 0),
               Metric("drift.drifted", float(result.drifted), now, 0),
               Metric("drift.n_drifted", float(len(result.drifted_columns)), now, 0),
               Metric("drift.n_columns", float(len(result.columns)), now, 0)]
    keys = metric_keys(list(result.columns))
    metrics += [Metric(keys[c], float(d.score), now, 0) for c, d in result.columns.items()]
    if result.performance is not None:
        perf = result.performance
        metrics += [Metric(f"performance.{perf.metric}.reference", perf.reference, now, 0),
                    Metric(f"performance.{perf.metric}.current", perf.current, now, 0),
                    Metric("performance.degraded", float(perf.degraded), now, 0)]
    for signal in signals or []:
        metrics.append(Metric(f"signal.{signal['name']}.fired", float(signal["fired"]), now, 0))
        if signal.get("value") is not None:
            metrics.append(Metric(f"signal.{signal['name']}.value", float(signal["value"]),
                                  now, 0))
    params = [Param("drift.engine", result.engine), Param("drift.drift_share",
                                                          str(result.drift_share)),
              Param("drift.reference", result.reference_source[:500]),
              Param("drift.current", result.current_source[:500])]
    existing = client.get_run(run_id).data.params
    params = [p for p in params if p.key not in existing]  # params are write-once in MLflow
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start:start + 1000],
                         params=params if start == 0 else [])
    if result.columns:
        client.log_text(run_id, result.to_html(), "drift/report.html")


def drift_history(model: str, *, experiment: str | None = None,
                  newest: int | None = None) -> pd.DataFrame:
    """Every drift check logged for `model` (or only the `newest` N), oldest first: one row
    per check."""
    import pandas as pd

    from workbench.tracking.store import tracking_client

    client = tracking_client()
    found = client.get_experiment_by_name(experiment or MONITORING_EXPERIMENT)
    columns = ["time", "model", "version", "drifted", "share", "n_drifted", "n_columns",
               "engine", "fired", "run_id"]
    if found is None:
        return pd.DataFrame(columns=columns)
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs([found.experiment_id],
                                  filter_string=f"tags.`{MODEL_TAG}` = {filter_literal(model)} and "
                                                f"tags.`{KIND_TAG}` = 'drift' and "
                                                "attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time " +
                                            ("DESC" if newest else "ASC")],
                                  max_results=min(newest or 1000, 1000), page_token=token)
        for run in page:
            m = run.data.metrics
            row = {"time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
                   "model": model, "version": run.data.tags.get(VERSION_TAG) or None,
                   "drifted": bool(m.get("drift.drifted", 0.0)), "share": m.get("drift.share"),
                   "n_drifted": int(m.get("drift.n_drifted", 0)),
                   "n_columns": int(m.get("drift.n_columns", 0)),
                   "engine": run.data.params.get("drift.engine"),
                   # a monitor's check: the signals that fired ("" none); None: a plain check
                   "fired": run.data.tags.get(FIRED_TAG), "run_id": run.info.run_id}
            row.update({k: v for k, v in m.items()
                        if k.startswith(("drift.score.", "performance.", "signal."))})
            rows.append(row)
        token = page.token
        if not token or (newest and len(rows) >= newest):
            break
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    return frame.sort_values("time", kind="stable").reset_index(drop=True) if rows else frame



def drift_models(*, experiment: str | None = None) -> list[str]:
    """The models that have drift checks logged, sorted (a pilot can be checked before its
    first registration, so this is not `wb.models()`)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()  # MLflow's search: its pages carry the next page's token
    found = client.get_experiment_by_name(experiment or MONITORING_EXPERIMENT)
    if found is None:
        return []
    names: set[str] = set()
    token = None
    while True:
        page = client.search_runs([found.experiment_id],
                                  filter_string=f"tags.`{KIND_TAG}` = 'drift'",
                                  max_results=1000, page_token=token)
        names.update(r.data.tags[MODEL_TAG] for r in page if r.data.tags.get(MODEL_TAG))
        token = page.token
        if not token:
            return sorted(names)


def drift_result(run_id: str) -> dict[str, Any]:
    """The result a logged drift check stored (`DriftResult.to_dict()`: verdict, share, every
    column's test, score and threshold, what was skipped and why)."""
    import json

    from workbench.runs import artifact_bytes

    try:
        return dict(json.loads(artifact_bytes(run_id, "drift/result.json")))
    except ConfigError:
        raise ConfigError(f"run {run_id} holds no drift check (drift/result.json); pick a run "
                          "from wb.drift_history(model)") from None


def drift_report(run_id: str) -> str:
    """Evidently's HTML report of a logged drift check."""
    from workbench.runs import artifact_bytes

    try:
        return artifact_bytes(run_id, "drift/report.html", max_bytes=200_000_000).decode()
    except ConfigError:
        raise ConfigError(f"run {run_id} holds no drift report (drift/report.html): a check "
                          "that tested no column has none; pick another from "
                          "wb.drift_history(model)") from None
