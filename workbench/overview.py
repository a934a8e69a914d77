"""Each model and experiment at a glance, as the cockpit and Lab's sidebar show them: a
model's champion, the requests waiting for a second approver and its newest drift check's
verdict (`workbench.monitoring.verdict`); the experiments and the newest runs (the pipelines'
rows are `workbench.pipelines.listing`'s).

These are read every few seconds, so each part costs a fixed number of store reads, not one
or more per model: every registered model (tags, so the history, and aliases, so the
champion) in one registry search, the newest drift checks of every model in one run search.
The parts take the client and the experiments already read, so one refresh opens the store
once and lists its experiments once.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# the newest drift checks read in the one search; a registered model not among them while the
# page came back full is looked up on its own
DRIFT_PAGE = 200
NEWEST = ["attributes.start_time DESC"]


def read_client() -> Any:
    from workbench.tracking.store import read_client as client

    return client()


def experiments(client: Any) -> list[dict[str, str]]:
    """The active experiments as {experiment_id, name}, by name: one read."""
    found = client.search_experiments()
    return sorted(({"experiment_id": str(e.experiment_id), "name": str(e.name)} for e in found),
                  key=lambda e: (e["name"].casefold(), e["experiment_id"]))


def recent_runs(client: Any, experiment_ids: Sequence[str], limit: int = 20,
                names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The newest `limit` runs of the experiments given, as `wb.search_runs` rows: one search
    (the experiments' names come from `names`, already read)."""
    from workbench.runs import run_row

    if not experiment_ids:
        return []
    found = client.search_runs(list(experiment_ids), max_results=limit, order_by=NEWEST)
    return [run_row(run, dict(names or {})) for run in found]


def model_overview(root: str | Path | None = None, *, client: Any = None,
                   experiment_list: Sequence[Mapping[str, str]] | None = None
                   ) -> list[dict[str, Any]]:
    """Per model (registered or drift-checked), by name: `champion` (a version or None),
    `pending` (the open requests: request_id, kind, run_id, requester, reason, at) and `drift`
    (None before a first check, else the newest check's verdict, `workbench.monitoring.verdict`:
    state, fired, share, threshold, drifting, why, text; and at, run_id). A check is judged at
    the threshold it recorded (the model's policy threshold when the monitor checked), not at
    today's spec: every surface shows the same verdict for the same check. `root` is kept for
    callers; nothing is read from it.

    A pilot drift-checked but never registered is listed while one of its checks is among the
    newest DRIFT_PAGE checks of the store."""
    from workbench.monitoring.history import MONITORING_EXPERIMENT

    client = client if client is not None else read_client()
    registered = _registered(client)
    monitoring = _experiment_id(client, experiment_list, MONITORING_EXPERIMENT)
    checks = _newest_drift_checks(client, monitoring, registered)
    rows = []
    for name in sorted(set(registered) | set(checks)):
        champion, pending = registered.get(name, (None, []))
        rows.append({
            "model": name, "champion": champion,
            "pending": [{"request_id": f"{name}/{e['seq']}", "kind": e.get("kind", "promotion"),
                         "run_id": e.get("run_id"), "requester": e.get("requester"),
                         "reason": e.get("reason"), "at": e.get("at")} for e in pending],
            "drift": checks.get(name)})
    return rows


def _registered(client: Any) -> dict[str, tuple[str | None, list[dict[str, Any]]]]:
    """name -> (champion version, open requests) of every registered model but workbench's
    own, from one paged registry search: its tags hold the history, its aliases the champion.
    Only the open requests' parts kept in artifacts are read back."""
    from workbench.errors import ConfigError
    from workbench.promotion import ledger, registry
    from workbench.tracking import leases

    found: dict[str, tuple[str | None, list[dict[str, Any]]]] = {}
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        for model in page:
            tags = dict(model.tags)
            if leases.is_internal(tags):
                continue
            try:
                stored = ledger.parse(tags, registry.HISTORY_TAG)
            except ledger.Broken as exc:
                raise ConfigError(f"the history of {model.name} is {exc}; see `workbench "
                                  f"history {model.name} --verify`") from None
            waiting = [registry.expand_entry(client, e)  # parts kept in artifacts, read back
                       for e in registry.pending_requests(model.name, stored)]
            champion = (model.aliases or {}).get(registry.CHAMPION)
            found[model.name] = (None if champion is None else str(champion), waiting)
        token = page.token
        if not token:
            return found


def _experiment_id(client: Any, listed: Sequence[Mapping[str, str]] | None,
                   name: str) -> str | None:
    if listed is not None:
        return next((e["experiment_id"] for e in listed if e["name"] == name), None)
    found = client.get_experiment_by_name(name)
    return None if found is None or found.lifecycle_stage != "active" else \
        str(found.experiment_id)


def _newest_drift_checks(client: Any, experiment_id: str | None,
                         registered: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """model -> its newest finished drift check (share, at, run_id): the newest DRIFT_PAGE
    checks in one search, then, only when that page was full, one search per registered model
    it missed."""
    from workbench.monitoring.history import KIND_TAG, MODEL_TAG
    from workbench.tracking.store import filter_literal

    if experiment_id is None:
        return {}
    finished = f"tags.`{KIND_TAG}` = 'drift' and attributes.status = 'FINISHED'"
    page = client.search_runs([experiment_id], filter_string=finished, max_results=DRIFT_PAGE,
                              order_by=NEWEST)
    newest: dict[str, dict[str, Any]] = {}
    for run in page:
        _keep_check(newest, run)
    if len(page) >= DRIFT_PAGE:
        for name in sorted(set(registered) - set(newest)):
            query = f"tags.`{MODEL_TAG}` = {filter_literal(name)} and {finished}"
            for run in client.search_runs([experiment_id], filter_string=query, max_results=1,
                                          order_by=NEWEST):
                _keep_check(newest, run)
    return newest


def _keep_check(newest: dict[str, dict[str, Any]], run: Any) -> None:
    """The newest check of its model, judged from what the run recorded (no further read)."""
    from workbench.monitoring.history import MODEL_TAG
    from workbench.monitoring.verdict import of_run

    model = run.data.tags.get(MODEL_TAG)
    share = run.data.metrics.get("drift.share")
    if model and model not in newest and share is not None:
        newest[model] = {**of_run(run.data.tags, run.data.metrics, run.data.params),
                         "at": _iso(run.info.start_time, "minutes"),
                         "run_id": str(run.info.run_id)}


def _iso(millis: int | None, timespec: str) -> str | None:
    if not millis:
        return None
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC).isoformat(
        timespec=timespec)
