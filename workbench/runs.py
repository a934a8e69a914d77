"""Recent runs as plain rows, for `workbench runs` and dashboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workbench.errors import ConfigError


def list_runs(experiment: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    from workbench.config import DEFAULT_EXPERIMENT
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    name = experiment or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is None:
        if experiment is None:
            return []
        raise ConfigError(f"no experiment named {name!r}; list them with `mlflow experiments "
                          "search` or omit --experiment")
    runs = client.search_runs([found.experiment_id], max_results=limit,
                              order_by=["attributes.start_time DESC"])
    rows = []
    for run in runs:
        start = run.info.start_time
        rows.append({
            "run_id": run.info.run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "started": datetime.fromtimestamp(start / 1000, UTC).isoformat(timespec="seconds")
            if start else None,
            "kind": run.data.tags.get("workbench.kind", "run"),
            "parent": run.data.tags.get("mlflow.parentRunId"),
            "metrics": dict(run.data.metrics),
        })
    return rows
