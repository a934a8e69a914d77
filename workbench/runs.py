"""Runs as plain rows, for `workbench runs`, the /runs dashboard and notebooks: recent runs,
experiments, paged searches with MLflow's filter syntax, one run's detail, downsampled curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workbench.errors import ConfigError


def list_runs(experiment: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    from workbench.config import DEFAULT_EXPERIMENT
    from workbench.tracking.store import read_client

    client = read_client()
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
        rows.append({
            "run_id": run.info.run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "started": _iso(run.info.start_time),
            "kind": run.data.tags.get("workbench.kind", "run"),
            "parent": run.data.tags.get("mlflow.parentRunId"),
            "metrics": dict(run.data.metrics),
        })
    return rows


# -- the runs browser's read API (the /runs dashboard, notebooks) ---------------------------------

STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
FILTER_HELP = ("write MLflow's search syntax, e.g. params.lr = '0.1' and metrics.loss < 0.5 "
               "and tags.team = 'ml' (values of params and tags in quotes)")


@dataclass(frozen=True)
class RunsPage:
    """One page of a run search: plain rows, and the token of the next page (None: last)."""

    rows: list[dict[str, Any]]
    next_token: str | None
    page_size: int


def experiments() -> list[dict[str, str]]:
    """Active experiments, newest first, as {experiment_id, name, artifact_location}."""
    from workbench.tracking.store import tracking_client

    found = tracking_client().search_experiments(order_by=["creation_time DESC"])
    return [{"experiment_id": str(e.experiment_id), "name": e.name,
             "artifact_location": e.artifact_location or ""} for e in found]


def search_runs(experiments: Sequence[str] | None = None, filter: str = "",
                order: Sequence[str] = (), *, status: str | None = None,
                page_token: str | None = None, page_size: int = 50) -> RunsPage:
    """One page of runs of the experiments named (None: every active one), newest first unless
    `order` says otherwise (MLflow's `order_by`, e.g. "metrics.loss ASC").

    `filter` is MLflow's search syntax on params, metrics, tags and attributes; `status` adds
    `attributes.status = ...`. A malformed filter or order raises a one-line ConfigError.
    """
    from workbench.tracking.fast_read import FastReadClient
    from workbench.tracking.store import read_client, tracking_client

    if not 1 <= page_size <= 1000:
        raise ConfigError(f"page_size must be 1 to 1000, got {page_size}")
    client = read_client()
    names = _experiments(client, experiments)
    ids = list(names)
    if not ids:
        return RunsPage([], None, page_size)
    query = _with_status(filter.strip(), status)
    newest_first = list(order) in ([], ["attributes.start_time DESC"])
    if isinstance(client, FastReadClient) and newest_first:
        # the embedded store read in SQL: a page of 50 runs x 100 metrics in ~20 ms, where
        # MLflow's search builds entities for ~0.3 s; filters it does not read go to MLflow
        offset = _fast_offset(page_token)
        if offset is not None:
            fast = client.search_runs_page(ids, query, page_size, offset)
            if fast is not None:
                runs, more = fast
                return RunsPage([run_row(run, names) for run in runs],
                                f"{_FAST_TOKEN}{offset + page_size}" if more else None,
                                page_size)
    if page_token is not None and page_token.startswith(_FAST_TOKEN):
        raise ConfigError("this page token belongs to another search (the filter or order "
                          "changed); start again from the first page")
    try:
        found = tracking_client().search_runs(ids, filter_string=query, max_results=page_size,
                                              order_by=list(order) or
                                              ["attributes.start_time DESC"],
                                              page_token=page_token)
    except Exception as exc:
        raise _search_error(exc, filter, order, page_token) from None
    token = found.token.decode() if isinstance(found.token, bytes) else found.token
    return RunsPage([run_row(run, names) for run in found], token or None, page_size)


_FAST_TOKEN = "workbench-offset:"  # never base64 (MLflow's tokens are)


def _fast_offset(token: str | None) -> int | None:
    """The offset in a token of the SQL read path, 0 for the first page, None for MLflow's."""
    if token is None:
        return 0
    if token.startswith(_FAST_TOKEN) and token[len(_FAST_TOKEN):].isdigit():
        return int(token[len(_FAST_TOKEN):])
    return None


def run_detail(run_id: str, *, max_artifacts: int = 500) -> dict[str, Any]:
    """One run: its row (as search_runs gives), params, latest metrics, tags, and its
    artifacts' paths and sizes (directories walked, at most `max_artifacts` files)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ConfigError(f"no run {run_id!r} in the tracking store; copy an id from "
                          "`workbench runs`") from None
    names = _experiment_names(client, [run.info.experiment_id])
    return {**run_row(run, names), "artifacts": _artifacts(client, run_id, max_artifacts)}


def metric_histories(run_ids: Sequence[str], keys: Sequence[str], *,
                     max_points: int = 1000) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """run id -> metric key -> (step, value) points in step order, each curve downsampled to
    at most `max_points` (its first, last and per-bucket extremes kept); a run without a
    metric has no entry for it."""
    from workbench.curves import downsample
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run_id in run_ids:
        curves[run_id] = {}
        for key in keys:
            history = client.get_metric_history(run_id, key)
            if history:
                points = sorted((int(m.step), float(m.value)) for m in history)
                curves[run_id][key] = downsample(points, max_points)
    return curves


def artifact_bytes(run_id: str, path: str, *, max_bytes: int = 20_000_000) -> bytes:
    """The content of one artifact of a run (refused above `max_bytes`: a page shows it)."""
    import os
    import tempfile
    from pathlib import Path

    from workbench.tracking.store import tracking_client

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # not in a server log
    client = tracking_client()
    with tempfile.TemporaryDirectory(prefix="wb-artifact-") as scratch:
        try:
            local = Path(client.download_artifacts(run_id, path, scratch))
        except Exception:
            raise ConfigError(f"run {run_id} has no artifact {path!r}; pick one of its "
                              "artifacts list (run_detail)") from None
        if not local.is_file():
            raise ConfigError(f"{path!r} in run {run_id} is a directory; pick a file in it")
        if local.stat().st_size > max_bytes:
            raise ConfigError(f"{path!r} is {local.stat().st_size} bytes, over {max_bytes}; "
                              "download it with `mlflow artifacts download`")
        return local.read_bytes()


def _with_status(query: str, status: str | None) -> str:
    if status is None:
        return query
    if status not in STATUSES:
        raise ConfigError(f"unknown run status {status!r}; use one of {', '.join(STATUSES)}")
    clause = f"attributes.status = '{status}'"
    return f"{query} and {clause}" if query else clause


def _search_error(exc: Exception, query: str, order: Sequence[str],
                  token: str | None) -> Exception:
    if getattr(exc, "error_code", None) != "INVALID_PARAMETER_VALUE":
        return exc
    reason = " ".join(str(getattr(exc, "message", exc)).split())
    if "page token" in reason.lower():
        return ConfigError(f"stale page token ({reason}); start again from the first page")
    if "order" in reason.lower() or (order and "filter" not in reason.lower()):
        return ConfigError(f"bad run order {list(order)!r} ({reason}); use e.g. "
                           "'metrics.loss ASC' or 'attributes.start_time DESC'")
    return ConfigError(f"bad run filter {query!r} ({reason}); {FILTER_HELP}")


def _experiments(client: Any, names: Sequence[str] | None) -> dict[str, str]:
    """{id: name} of the experiments named (None: every active one, in one read)."""
    if names is None:
        return {str(e.experiment_id): str(e.name) for e in client.search_experiments()}
    ids = {}
    for name in names:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise ConfigError(f"no experiment named {name!r}; pick one of experiments()")
        ids[str(found.experiment_id)] = str(found.name)
    return ids


def _experiment_names(client: Any, ids: Sequence[str]) -> dict[str, str]:
    return {i: client.get_experiment(i).name for i in dict.fromkeys(ids)}


def run_row(run: Any, experiment_names: dict[str, str]) -> dict[str, Any]:
    info = run.info
    return {"run_id": info.run_id, "name": info.run_name or "",
            "experiment": experiment_names.get(str(info.experiment_id), ""),
            "status": info.status, "started": _iso(info.start_time),
            "duration_s": (info.end_time - info.start_time) / 1000
            if info.end_time and info.start_time else None,
            "params": dict(run.data.params), "metrics": dict(run.data.metrics),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}}


def _iso(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds") \
        if millis else None


def _artifacts(client: Any, run_id: str, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    folders = [None]
    while folders and len(found) < limit:
        for item in client.list_artifacts(run_id, folders.pop()):
            if item.is_dir:
                folders.append(item.path)
            elif len(found) < limit:
                found.append({"path": item.path, "size": item.file_size})
    return sorted(found, key=lambda a: a["path"])
