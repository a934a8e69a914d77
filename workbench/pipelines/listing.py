"""`workbench pipeline list` and the dashboards: each pipeline, its last run, its last scheduled
slots with what happened to them, its next slot."""

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


def list_pipelines(root: Path, *, slots: int = 5) -> list[dict[str, Any]]:
    """One row per pipeline spec: steps, schedule, `next_run` (the next slot), the last run
    and `slots`: the last `slots` scheduled slots, newest first, each with `what` happened
    (ran, failed, skipped, interrupted, taken over) as recorded in the shared store."""
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import read_client

    specs = sorted((root / PIPELINES_DIR).glob("*.yaml"))
    if not specs:
        return []  # nothing to look up: the store is not opened
    client = read_client()
    book = SlotBook(client)
    now = datetime.datetime.now(datetime.UTC)
    rows = []
    for path in specs:
        row: dict[str, Any] = {"name": path.stem, "path": str(path)}
        try:
            spec = load_spec(path)
        except ConfigError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        upcoming = next_run(spec, now)
        row.update({"steps": len(spec.steps), "schedule": spec.schedule,
                    "next_run": upcoming.isoformat() if upcoming else None,
                    "last_run": None, "last_status": None, "last_run_id": None,
                    "slots": [r.to_dict() for r in book.history(spec.name, slots)]})
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


def slot_history(pipeline: str, limit: int = 10) -> list[dict[str, Any]]:
    """Pipeline `pipeline`'s last `limit` scheduled slots, newest first (for dashboards)."""
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import tracking_client

    return [r.to_dict() for r in SlotBook(tracking_client()).history(pipeline, limit)]
