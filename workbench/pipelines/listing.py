"""`workbench pipeline list` and the dashboards: each pipeline, its last run, its last scheduled
slots with what happened to them, its next slot."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.pipelines.schedule import next_run
from workbench.pipelines.spec import PipelineSpec, load_spec
from workbench.project import PIPELINES_DIR

PIPELINE_RUNS = "tags.`workbench.kind` = 'pipeline'"
LAST_PAGE = 200  # pipelines' runs read in the one search for their last runs


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


def list_pipelines(root: Path, *, slots: int = 5, client: Any = None,
                   experiments: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per pipeline spec: model, steps, schedule, `next_run` (the next slot), the last
    run and `slots`: the last `slots` scheduled slots, newest first, each with `what` happened
    (ran, failed, skipped, interrupted, taken over) as recorded in the shared store
    (`slots=0`: none read). The last runs of every pipeline come from one search;
    `experiments` ({name: id}, already read) spares looking each pipeline's experiment up."""
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import read_client

    specs = sorted((root / PIPELINES_DIR).glob("*.yaml"))
    if not specs:
        return []  # nothing to look up: the store is not opened
    client = client if client is not None else read_client()
    book = SlotBook(client) if slots else None
    now = datetime.datetime.now(datetime.UTC)
    rows: list[dict[str, Any]] = []
    loaded: dict[str, str] = {}  # file stem -> pipeline name
    for path in specs:
        row: dict[str, Any] = {"name": path.stem, "path": str(path)}
        try:
            spec = load_spec(path)
        except ConfigError as exc:
            rows.append({**row, "error": str(exc)})
            continue
        loaded[path.stem] = spec.name
        upcoming = next_run(spec, now)
        row.update({"model": spec.model, "steps": len(spec.steps), "schedule": spec.schedule,
                    "next_run": upcoming.isoformat() if upcoming else None,
                    "last_run": None, "last_status": None, "last_run_id": None,
                    "slots": [r.to_dict() for r in book.history(spec.name, slots)]
                    if book else []})
        rows.append(row)
    last = last_runs(client, list(loaded.values()), experiments)
    for row in rows:
        run = last.get(loaded.get(row["name"], ""))
        if run is not None:
            row.update({"last_run": datetime.datetime.fromtimestamp(
                run.info.start_time / 1000, datetime.UTC).isoformat(timespec="seconds"),
                "last_status": run.info.status, "last_run_id": run.info.run_id})
    return rows


def last_runs(client: Any, pipelines: Sequence[str],
              experiments: Mapping[str, str] | None = None) -> dict[str, Any]:
    """pipeline -> its newest run (each runs in experiment `pipeline-NAME`): one search over
    those experiments, then, only when its page came back full, one per pipeline it missed."""
    ids = {}
    for name in pipelines:
        if experiments is not None:
            found = experiments.get(f"pipeline-{name}")
        else:
            experiment = client.get_experiment_by_name(f"pipeline-{name}")
            found = str(experiment.experiment_id) if experiment is not None and \
                experiment.lifecycle_stage == "active" else None
        if found is not None:
            ids[found] = name
    if not ids:
        return {}
    newest = ["attributes.start_time DESC"]
    page = client.search_runs(list(ids), filter_string=PIPELINE_RUNS, max_results=LAST_PAGE,
                              order_by=newest)
    last: dict[str, Any] = {}
    for run in page:
        last.setdefault(ids[str(run.info.experiment_id)], run)
    if len(page) >= LAST_PAGE:
        for experiment_id, name in ids.items():
            if name not in last:
                for run in client.search_runs([experiment_id], filter_string=PIPELINE_RUNS,
                                              max_results=1, order_by=newest):
                    last[name] = run
    return last


def slot_history(pipeline: str, limit: int = 10) -> list[dict[str, Any]]:
    """Pipeline `pipeline`'s last `limit` scheduled slots, newest first (for dashboards)."""
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import tracking_client

    return [r.to_dict() for r in SlotBook(tracking_client()).history(pipeline, limit)]
