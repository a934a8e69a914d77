"""The guard: which MLflow REST writes a governing server refuses, whoever sends them (the
admin too), because only workbench's endpoints may change that state.

For a governed model (its `workbench.governed` tag): moving or deleting an alias, writing or
deleting a `workbench.*` tag on the model or a version, creating a version that carries
`workbench.*` tags, deleting a version, deleting or renaming the model. For every run: a
metric written after the run ended, or an ended run's status or end changed (gates count the
metrics a run ended with). `refusal` decides from plain data; `before_request` is the Flask
glue that reads the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

GOVERNED_WRITES = {  # (route after /mlflow/, method) -> what it does
    ("registered-models/alias", "POST"): "alias",
    ("registered-models/alias", "DELETE"): "alias",
    ("registered-models/set-tag", "POST"): "model tag",
    ("registered-models/delete-tag", "DELETE"): "model tag",
    ("model-versions/set-tag", "POST"): "version tag",
    ("model-versions/delete-tag", "DELETE"): "version tag",
    ("model-versions/delete", "DELETE"): "version delete",
    ("registered-models/delete", "DELETE"): "model delete",
    ("registered-models/rename", "POST"): "model rename",
    ("model-versions/create", "POST"): "version create",
}
RUN_WRITES = {("runs/log-metric", "POST"): "metric", ("runs/log-batch", "POST"): "batch",
              ("runs/update", "POST"): "update"}
ENDED = ("FINISHED", "FAILED", "KILLED")
WORKBENCH = "workbench."


def route_of(path: str) -> str | None:
    """`registered-models/alias` for `/api/2.0/mlflow/registered-models/alias` (and the
    ajax-api and preview spellings); None for other paths."""
    marker = "/mlflow/"
    at = path.find(marker)
    if at < 0 or not path[:at].rstrip("/").endswith(("2.0", "preview", "3.0")):
        return None
    return path[at + len(marker):].strip("/")


def refusal(route: str, method: str, body: Mapping[str, Any], *,
            model_tags: Callable[[str], Mapping[str, str] | None],
            run_status: Callable[[str], str | None]) -> str | None:
    """One line saying why this write is refused, or None to let it through. `model_tags`
    reads a registered model's tags (None: no such model), `run_status` a run's status."""
    kind = GOVERNED_WRITES.get((route, method))
    if kind is not None:
        return _registry_refusal(kind, body, model_tags)
    kind = RUN_WRITES.get((route, method))
    if kind is not None:
        return _run_refusal(kind, body, run_status)
    return None


def _registry_refusal(kind: str, body: Mapping[str, Any],
                      model_tags: Callable[[str], Mapping[str, str] | None]) -> str | None:
    from workbench.promotion import registry

    name = str(body.get("name") or "")
    if kind in ("model tag", "version tag") and not str(body.get("key", "")).startswith(
            WORKBENCH):
        return None
    if kind == "version create" and not any(str(t.get("key", "")).startswith(WORKBENCH)
                                            for t in body.get("tags") or []
                                            if isinstance(t, Mapping)):
        return None
    tags = model_tags(name) if name else None
    if tags is None or not registry.is_governed(tags):
        return None
    use = {"alias": f"workbench promote {name} / workbench rollback {name}",
           "model tag": f"workbench policy {name}", "version tag": f"workbench promote {name}",
           "version delete": f"workbench rollback {name} (versions of a governed model are "
                             "kept as evidence)",
           "model delete": "nothing: a governed model and its history are kept as evidence",
           "model rename": "nothing: a governed model keeps its name and history",
           "version create": f"plain tags (not workbench.*), then workbench promote {name}"}
    what = {"alias": "move or delete its aliases", "model tag": "write its workbench.* tags",
            "version tag": "write workbench.* tags on its versions",
            "version delete": "delete its versions", "model delete": "delete it",
            "model rename": "rename it",
            "version create": "create versions carrying workbench.* tags"}
    return (f"{name} is governed by workbench: no login may {what[kind]} directly; use "
            f"{use[kind]}")


def _run_refusal(kind: str, body: Mapping[str, Any],
                 run_status: Callable[[str], str | None]) -> str | None:
    run_id = str(body.get("run_id") or body.get("run_uuid") or "")
    if kind == "batch" and not body.get("metrics"):
        return None  # params and tags only
    if kind == "update" and not (body.get("status") or body.get("end_time")):
        return None  # a rename
    status = run_status(run_id) if run_id else None
    if status not in ENDED:
        return None
    if kind == "update":
        return (f"run {run_id} has ended ({status}): its status and end are fixed, so the "
                "metrics it ended with stay the ones promotion gates read; start a new run")
    return (f"run {run_id} has ended ({status}): metrics written after a run's end do not "
            "count and are refused; log them in a new run")


def before_request() -> Any:
    """Flask `before_request` hook, after MLflow's basic auth: refuse what `refusal` names
    (403, one line). Reads go through the server's own stores, not HTTP."""
    from flask import jsonify, request

    route = route_of(request.path)
    if route is None or ((route, request.method) not in GOVERNED_WRITES
                         and (route, request.method) not in RUN_WRITES):
        return None
    body = request.get_json(force=True, silent=True) or {}
    if not isinstance(body, dict):
        body = {}
    body = {**request.args.to_dict(), **body}
    why = refusal(route, request.method, body, model_tags=_model_tags, run_status=_run_status)
    if why is None:
        return None
    response = jsonify({"error_code": "PERMISSION_DENIED", "message": why,
                        "workbench_error": "ConfigError"})
    response.status_code = 403
    return response


def _model_tags(name: str) -> Mapping[str, str] | None:
    from mlflow.exceptions import MlflowException
    from mlflow.server.handlers import _get_model_registry_store

    try:
        return dict(_get_model_registry_store().get_registered_model(name).tags)
    except MlflowException:
        return None


def _run_status(run_id: str) -> str | None:
    """The run's status, read alone (a full get_run loads every metric and param)."""
    from mlflow.exceptions import MlflowException
    from mlflow.server.handlers import _get_tracking_store

    store = _get_tracking_store()
    session_maker = getattr(store, "ManagedSessionMaker", None)
    if session_maker is not None:
        from mlflow.store.tracking.dbmodels.models import SqlRun

        with session_maker() as session:
            row = session.query(SqlRun.status).filter(SqlRun.run_uuid == run_id).first()
            return str(row[0]) if row else None
    try:
        return str(store.get_run(run_id).info.status)
    except MlflowException:
        return None
