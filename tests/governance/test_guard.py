"""The guard's decisions on plain data: which MLflow writes a governing server refuses, on
every spelling of the REST path the MLflow UI and clients use."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from workbench.governance.guard import refusal, route_of

GOVERNED = {"workbench.governed": "true", "workbench.history-head": "{}"}


def tags_of(name: str) -> Mapping[str, str] | None:
    return {"credit": GOVERNED, "free": {}}.get(name)


def status_of(run_id: str) -> str | None:
    return {"done": "FINISHED", "live": "RUNNING"}.get(run_id)


@pytest.mark.parametrize("path", ["/api/2.0/mlflow/registered-models/alias",
                                  "/ajax-api/2.0/mlflow/registered-models/alias",
                                  "/team/api/2.0/mlflow/registered-models/alias"])
def test_every_spelling_of_a_route_is_the_same_route(path: str) -> None:
    assert route_of(path) == "registered-models/alias"


def test_other_paths_are_not_routes() -> None:
    assert route_of("/static-files/mlflow/registered-models/alias") is None
    assert route_of("/health") is None


@pytest.mark.parametrize(("route", "method", "body", "refused"), [
    ("registered-models/alias", "POST", {"name": "credit", "alias": "champion"}, True),
    ("registered-models/alias", "DELETE", {"name": "credit", "alias": "x"}, True),
    ("registered-models/alias", "POST", {"name": "free", "alias": "champion"}, False),
    ("registered-models/set-tag", "POST", {"name": "credit", "key": "team"}, False),
    ("registered-models/set-tag", "POST", {"name": "credit", "key": "workbench.x"}, True),
    ("model-versions/delete-tag", "DELETE", {"name": "credit", "version": "1",
                                             "key": "workbench.approved_by"}, True),
    ("model-versions/create", "POST", {"name": "credit", "tags": [{"key": "a"}]}, False),
    ("model-versions/create", "POST", {"name": "credit",
                                       "tags": [{"key": "workbench.gates"}]}, True),
    ("registered-models/delete", "DELETE", {"name": "credit"}, True),
    ("registered-models/rename", "POST", {"name": "credit", "new_name": "x"}, True),
    ("registered-models/update", "PATCH", {"name": "credit", "description": "d"}, False),
    ("runs/log-metric", "POST", {"run_id": "done", "key": "auc"}, True),
    ("runs/log-metric", "POST", {"run_id": "live", "key": "auc"}, False),
    ("runs/log-batch", "POST", {"run_id": "done", "params": [{"key": "a"}]}, False),
    ("runs/log-batch", "POST", {"run_id": "done", "metrics": [{"key": "a"}]}, True),
    ("runs/update", "POST", {"run_id": "done", "run_name": "renamed"}, False),
    ("runs/update", "POST", {"run_id": "done", "status": "RUNNING"}, True),
    ("runs/update", "POST", {"run_id": "live", "status": "FINISHED"}, False),
])
def test_what_is_refused(route: str, method: str, body: dict[str, object],
                         refused: bool) -> None:
    why = refusal(route, method, body, model_tags=tags_of, run_status=status_of)
    assert (why is not None) == refused, why
    if why is not None:
        assert "\n" not in why and ("workbench" in why or "new run" in why)
