"""`workbench pipeline list`: each pipeline, its last run, its next run."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.pipelines.schedule import next_run
from workbench.pipelines.spec import PipelineSpec, load_spec
from workbench.project import PIPELINES_DIR


def pipeline_for_model(model: str, root: Path) -> tuple[Path, PipelineSpec] | None:
    """The pipeline whose `model:` is `model`, or None. A spec that cannot be read is an
    error, not a skip: it may hold the gates this model must pass."""
    found = []
    for path in sorted((root / PIPELINES_DIR).glob("*.yaml")):
        spec = load_spec(path)
        if spec.model == model:
            found.append((path, spec))
    if len(found) > 1:
        raise ConfigError(f"pipelines {', '.join(p.name for p, _ in found)} all produce model "
                          f"{model!r}; keep `model: {model}` in one of them")
    return found[0] if found else None


def list_pipelines(root: Path) -> list[dict[str, Any]]:
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    now = datetime.datetime.now(datetime.UTC)
    rows = []
    for path in sorted((root / PIPELINES_DIR).glob("*.yaml")):
        row: dict[str, Any] = {"name": path.stem, "path": str(path)}
        try:
            spec = load_spec(path)
        except ConfigError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        upcoming = next_run(spec, now)
        row.update({"steps": len(spec.steps), "schedule": spec.schedule,
                    "next_run": upcoming.isoformat() if upcoming else None,
                    "last_run": None, "last_status": None, "last_run_id": None})
        experiment = client.get_experiment_by_name(f"pipeline-{spec.name}")
        if experiment is not None:
            found = client.search_runs([experiment.experiment_id],
                                       filter_string="tags.`workbench.kind` = 'pipeline'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
            if found:
                last = found[0]
                row.update({"last_run": datetime.datetime.fromtimestamp(
                    last.info.start_time / 1000, datetime.UTC).isoformat(timespec="seconds"),
                    "last_status": last.info.status, "last_run_id": last.info.run_id})
        rows.append(row)
    return rows
