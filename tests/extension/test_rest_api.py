"""The REST API through a real jupyter_server, on a real store, a real LocalCluster and real
papermill kernels: what the sidebar, the dialogs and the viewers read and do."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from tests.extension.conftest import as_user, notebook
from tests.promotion.runs import model_run
from workbench_lab.handlers import routes


async def api(jp_fetch: Any, *parts: str, body: Any = None, user: str | None = None,
              params: dict[str, Any] | None = None) -> Any:
    response = await jp_fetch("workbench", "api", *parts, method="GET" if body is None
                              else "POST", body=None if body is None else json.dumps(body),
                              params=params, headers=as_user(user) if user else None)
    return json.loads(response.body)


async def refused(jp_fetch: Any, *parts: str, code: int, **kw: Any) -> str:
    with pytest.raises(HTTPClientError) as caught:
        await api(jp_fetch, *parts, **kw)
    assert caught.value.code == code, caught.value.response.body
    return str(json.loads(caught.value.response.body)["error"])


async def test_runs_are_paged_filtered_and_detailed(jp_fetch: Any, wb_home: Path) -> None:
    from workbench.tracking.store import tracking_client

    ids = [model_run(auc) for auc in (0.6, 0.7, 0.9)]
    client = tracking_client()
    for step, loss in enumerate((0.9, 0.5, 0.2)):
        client.log_metric(ids[0], "loss", loss, step=step)
    client.log_text(ids[0], "hello", "notes/readme.txt")
    first = await api(jp_fetch, "runs", params={"page_size": 2})
    assert len(first["runs"]) == 2 and first["next_token"]
    rest = await api(jp_fetch, "runs", params={"page_size": 2,
                                               "page_token": first["next_token"]})
    assert {r["run_id"] for r in first["runs"] + rest["runs"]} == set(ids)
    good = await api(jp_fetch, "runs", params={"filter": "metrics.val_auc > 0.8"})
    assert [r["run_id"] for r in good["runs"]] == [ids[2]]
    said = await refused(jp_fetch, "runs", code=400, params={"filter": "metrics.val_auc >>"})
    assert "search syntax" in said or "filter" in said
    detail = await api(jp_fetch, "runs", ids[0])
    assert detail["metric_history"]["loss"] == [[0, 0.9], [1, 0.5], [2, 0.2]]
    assert {"path": "notes/readme.txt", "size": 5} in detail["artifacts"]
    assert "no run" in await refused(jp_fetch, "runs", "0" * 32, code=404)


async def test_parameters_of_a_notebook_and_the_untagged_explanation(
        jp_fetch: Any, wb_home: Path, lab_root: Path) -> None:
    notebook(lab_root / "nb" / "pilot.ipynb", "rows = 10  # rows to use\nscale = 2.0")
    notebook(lab_root / "plain.ipynb", None)
    found = await api(jp_fetch, "notebooks", "parameters", params={"path": "nb/pilot.ipynb"})
    assert found["parameters"] == [
        {"name": "rows", "type": "int", "default": 10, "description": "rows to use"},
        {"name": "scale", "type": "float", "default": 2.0, "description": ""}]
    said = await refused(jp_fetch, "notebooks", "parameters", code=400,
                         params={"path": "plain.ipynb"})
    assert "no cell tagged 'parameters'" in said and "property inspector" in said
    assert "save it first" in await refused(jp_fetch, "notebooks", "parameters", code=404,
                                            params={"path": "gone.ipynb"})


PROBES = ["../outside.ipynb", "/etc/passwd", str(Path("/tmp/outside.ipynb")),
          "%2e%2e/outside.ipynb", "%252e%252e/outside.ipynb", "..\\outside.ipynb",
          "nb/../../outside.ipynb", "link/outside.ipynb", "C:/outside.ipynb"]
# each route that takes a path, and where its request carries it
PATH_ROUTES: dict[str, Callable[[str], dict[str, Any]]] = {
    "NotebookParameters": lambda probe: {"params": {"path": probe}},
    "Jobs": lambda probe: {"body": {"path": probe, "params": {}}},
    "Promotions": lambda probe: {"body": {"model": "m", "run_id": "r", "reason": "x",
                                          "notebook": probe}}}


def test_every_route_that_takes_a_path_is_probed() -> None:
    """A handler resolving a path the request names (paths.inside_root) is in PATH_ROUTES."""
    takes = {handler.__name__ for _, handler, _ in routes("/")
             if "inside_root(" in inspect.getsource(handler)}
    assert takes == set(PATH_ROUTES)


_opened: list[list[str]] = []  # while a test watches: what the process opened or listed


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened and event in ("open", "os.listdir", "os.scandir") and args and \
            isinstance(args[0], (str, bytes, os.PathLike)):
        _opened[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # for the process, cheap while no test watches


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """The paths this process opens or lists during the test (the server's handlers and
    their thread pool run in it)."""
    _opened.append([])
    try:
        yield _opened[-1]
    finally:
        _opened.pop()


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("handler", sorted(PATH_ROUTES))
async def test_paths_out_of_the_root_are_refused(
        jp_fetch: Any, wb_home: Path, lab_root: Path, opened: list[str], handler: str,
        probe: str) -> None:
    outside = notebook(lab_root.parent / "outside.ipynb", "rows = 1")
    (lab_root / "link").symlink_to(outside.parent, target_is_directory=True)
    route = next(p for p, h, _ in routes("/") if h.__name__ == handler).split("/api/")[1]
    opened.clear()  # from here on: the request only
    said = await refused(jp_fetch, *route.split("/"), code=400, **PATH_ROUTES[handler](probe))
    assert "root" in said or "plain path" in said
    assert [path for path in opened if "outside" in path] == []  # nothing read out there
    assert not (lab_root / "pipelines").exists() and not (lab_root / "executed").exists()


async def test_raw_encoded_traversal_in_the_query_is_refused(
        jp_fetch: Any, wb_home: Path, lab_root: Path, http_server_client: Any,
        jp_base_url: str, jp_auth_header: dict[str, str]) -> None:
    """The URL itself carrying %2e%2e (decoded once by tornado) and %252e (left encoded)."""
    notebook(lab_root.parent / "outside.ipynb", "rows = 1")
    for raw in ("%2e%2e%2foutside.ipynb", "%252e%252e%252foutside.ipynb", "..%5coutside.ipynb"):
        with pytest.raises(HTTPClientError) as caught:
            await http_server_client.fetch(
                f"{jp_base_url}workbench/api/notebooks/parameters?path={raw}",
                headers=jp_auth_header)
        assert caught.value.code == 400


async def test_a_notebook_runs_as_a_job_and_its_executed_copy_opens(
        jp_fetch: Any, wb_home: Path, lab_root: Path, dask_client: object) -> None:
    notebook(lab_root / "nb" / "pilot.ipynb", "rows = 10\nscale = 2.0",
             body="import os\nprint('result', rows * scale, os.path.basename(os.getcwd()))")
    assert "declares no parameter 'nope'" in await refused(
        jp_fetch, "jobs", code=400, body={"path": "nb/pilot.ipynb", "params": {"nope": 1}})
    assert "must be int" in await refused(
        jp_fetch, "jobs", code=400, body={"path": "nb/pilot.ipynb", "params": {"rows": "7"}})
    started = await api(jp_fetch, "jobs", body={"path": "nb/pilot.ipynb",
                                                "params": {"rows": 7, "scale": 3}})
    job_id = started["job_id"]
    listed = await api(jp_fetch, "overview")
    assert any(r["run_id"] == job_id and r["kind"] == "notebook-job" for r in listed["runs"])
    job = await _finished(jp_fetch, job_id)
    assert job["status"] == "FINISHED" and job["executed"] and job["path"] == "nb/pilot.ipynb"
    opened = await api(jp_fetch, "jobs", job_id, "open", body={})
    assert opened["path"] == f"executed/pilot-{job_id[:8]}.ipynb"
    executed = nbformat.read(lab_root / opened["path"], as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "result 21.0 nb" in printed  # the changed params, in the notebook's own folder
    detail = await api(jp_fetch, "runs", job_id)
    assert detail["params"] == {"rows": "7", "scale": "3.0"}
    assert detail["tags"]["workbench.job.notebook"] == "nb/pilot.ipynb"


async def test_a_failing_job_says_where_and_keeps_its_notebook(
        jp_fetch: Any, wb_home: Path, lab_root: Path, dask_client: object) -> None:
    notebook(lab_root / "bad.ipynb", "rows = 1", body="raise ValueError('no data here')")
    started = await api(jp_fetch, "jobs", body={"path": "bad.ipynb", "params": {}})
    job = await _finished(jp_fetch, started["job_id"])
    assert job["status"] == "FAILED" and "no data here" in job["error"] and job["executed"]
    assert "not a notebook job" in await refused(jp_fetch, "jobs", model_run(), code=404)


async def _finished(jp_fetch: Any, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await api(jp_fetch, "jobs", job_id)
        if job["status"] != "RUNNING":
            return dict(job)
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.5)


async def test_promotion_preview_then_four_eyes_by_a_second_user(
        jp_fetch: Any, wb_home: Path, lab_root: Path) -> None:
    notebook(lab_root / "pilot.ipynb", "rows = 10")
    run_id = model_run(0.83)
    preview = await api(jp_fetch, "promotions", body={
        "model": "churn", "run_id": run_id, "preview": True, "require": ["val_auc>=0.9"]})
    assert preview["approver"] == "alice" and preview["pipeline"] is None
    assert [(g["passed"], "val_auc" in g["gate"]) for g in preview["gates"]] == [(False, True)]
    assert not (lab_root / "pipelines").exists()  # a preview writes nothing
    assert "reason is required" in await refused(jp_fetch, "promotions", code=400, body={
        "model": "churn", "run_id": run_id, "reason": "  ", "notebook": "pilot.ipynb"})
    assert "val_auc" in await refused(jp_fetch, "promotions", code=409, body={
        "model": "churn", "run_id": run_id, "reason": "ship", "require": ["val_auc>=0.9"]})
    asked = await api(jp_fetch, "promotions", body={
        "model": "churn", "run_id": run_id, "reason": "beats the <b>rules</b>",
        "notebook": "pilot.ipynb", "four_eyes": True})
    assert asked["outcome"] == "requested" and asked["pipeline"] == "churn"
    assert (lab_root / "pipelines" / "churn.yaml").is_file()
    models = (await api(jp_fetch, "models"))["models"]
    assert models[0]["champion"] is None
    assert models[0]["pending"][0]["request_id"] == asked["request_id"]
    assert models[0]["pending"][0]["requester"] == "alice"
    said = await refused(jp_fetch, "approvals", code=400, body={
        "request_id": asked["request_id"], "decision": "approve", "reason": "me too"})
    assert "four-eyes" in said
    done = await api(jp_fetch, "approvals", user="bob", body={
        "request_id": asked["request_id"], "decision": "approve", "reason": "checked"})
    assert done == {"outcome": "promoted", "model": "churn", "version": "1",
                    "request_id": asked["request_id"]}
    history = await api(jp_fetch, "models", "churn", "history")
    assert [e["action"] for e in history["entries"]][-2:] == ["requested", "promoted"]
    assert history["entries"][-1]["approver"] == "bob" and history["champion"] == "1"
    dossier = await api(jp_fetch, "dossier", "churn", "1")
    assert "bob" in dossier["html"] and "<b>rules</b>" not in dossier["html"]
    assert "no registered model" in await refused(jp_fetch, "models", "nope", "history",
                                                  code=404)


async def test_a_refused_or_failed_promotion_leaves_no_pipeline(
        jp_fetch: Any, wb_home: Path, lab_root: Path) -> None:
    from workbench.tracking.store import ensure_experiment, tracking_client

    notebook(lab_root / "pilot.ipynb", "rows = 10")
    client = tracking_client()
    no_model = client.create_run(ensure_experiment(client, "plain")).info.run_id
    client.set_terminated(no_model, "FINISHED")
    run_id = model_run(0.83)
    promote = {"model": "churn", "reason": "ship", "notebook": "pilot.ipynb"}
    assert "val_auc" in await refused(jp_fetch, "promotions", code=409, body={
        **promote, "run_id": run_id, "require": ["val_auc>=0.9"]})
    assert not (lab_root / "pipelines").exists()
    assert "logged no model" in await refused(jp_fetch, "promotions", code=400, body={
        **promote, "run_id": no_model})
    assert not (lab_root / "pipelines").exists()
    done = await api(jp_fetch, "promotions", body={**promote, "run_id": run_id})
    assert done["outcome"] == "promoted" and done["pipeline"] == "churn"
    assert [p.name for p in (lab_root / "pipelines").iterdir()] == ["churn.yaml"]


def hold(ctx: Any) -> None:
    """A sweep's trial; the one with w=3 waits for the file `gate` (a sweep seen midway)."""
    import time

    while ctx.params.w == 3 and not Path(ctx.params.gate).exists():
        time.sleep(0.1)
    ctx.log_metrics({"loss": float(ctx.params.w)}, step=0)


async def test_a_running_sweep_shows_its_trials_done(
        jp_fetch: Any, wb_home: Path, tmp_path: Path, dask_client: object) -> None:
    import workbench as wb

    gate = tmp_path / "gate"
    sweep = wb.sweep(hold, space={"w": [1, 2, 3, 4]}, params={"gate": str(gate)},
                     metric="loss", progress=False, log_models="none")
    try:
        row = await _row_when(jp_fetch, sweep.parent_run_id, lambda r: r["progress"] == 0.75)
        assert row["kind"] == "sweep" and row["status"] == "RUNNING"
        listed = await api(jp_fetch, "runs", params={"filter": "tags.`workbench.kind` = 'sweep'"})
        assert [r["progress"] for r in listed["runs"]] == [0.75]
        assert (await api(jp_fetch, "runs", sweep.parent_run_id))["progress"] == 0.75
    finally:
        gate.touch()
    await asyncio.get_running_loop().run_in_executor(None, sweep.result, 120)
    done = await _row_when(jp_fetch, sweep.parent_run_id, lambda r: r["status"] == "FINISHED")
    assert done["progress"] is None  # a sweep that ended shows its status, no share


async def _row_when(jp_fetch: Any, run_id: str, done: Callable[[dict[str, Any]], bool],
                    timeout: float = 120) -> dict[str, Any]:
    """The sidebar's row of `run_id` once `done` holds for it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = (await api(jp_fetch, "overview"))["runs"]
        row = next((r for r in rows if r["run_id"] == run_id), None)
        if row is not None and done(row):
            return dict(row)
        assert asyncio.get_running_loop().time() < deadline, row
        await asyncio.sleep(0.3)


async def test_a_drift_check_and_its_report(jp_fetch: Any, wb_home: Path) -> None:
    import numpy as np
    import pandas as pd

    import workbench as wb

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"x": rng.normal(3, 1, 500), "y": rng.normal(0, 1, 500)})
    run_id = wb.drift(reference, current).log(model="churn")
    found = await api(jp_fetch, "drift", run_id)
    assert found["model"] == "churn" and found["share"] == 0.5
    assert {c["column"]: c["drifted"] for c in found["columns"]} == {"x": True, "y": False}
    assert "<html" in found["report_html"].lower()
    overview = await api(jp_fetch, "overview")
    drift = overview["models"][0]["drift"]
    assert drift["run_id"] == run_id and drift["drifting"] is True
    assert "drift check" in await refused(jp_fetch, "drift", model_run(), code=404)


async def test_the_overview_lists_experiments_and_narrows_the_runs_to_one(
        jp_fetch: Any, wb_home: Path) -> None:
    from workbench.tracking.store import ensure_experiment, tracking_client

    client = tracking_client()
    markup = "<img src=x onerror=window.__xss=1>"
    ids = {}
    for name, runs in ((markup, 2), ("b-exp", 1)):
        ids[name] = ensure_experiment(client, name)
        for _ in range(runs):
            client.set_terminated(client.create_run(ids[name]).info.run_id)
    every = await api(jp_fetch, "overview")
    assert every["experiment"] is None
    listed = [(e["name"], e["experiment_id"]) for e in every["experiments"]]
    assert (markup, ids[markup]) in listed and ("b-exp", ids["b-exp"]) in listed
    assert [n for n, _ in listed] == sorted((n for n, _ in listed), key=str.casefold)
    assert sorted(r["experiment"] for r in every["runs"]) == [markup, markup, "b-exp"]
    one = await api(jp_fetch, "overview", params={"experiment": ids[markup]})
    assert one["experiment"] == ids[markup] and one["experiments"] == every["experiments"]
    assert [r["experiment"] for r in one["runs"]] == [markup, markup]
    # an experiment gone meanwhile: every experiment's runs, and the sidebar is told
    gone = await api(jp_fetch, "overview", params={"experiment": "424242"})
    assert gone["experiment"] is None and len(gone["runs"]) == 3 and gone["errors"] == {}
    assert "experiment id" in await refused(jp_fetch, "overview", code=400,
                                            params={"experiment": "9" * 300})


async def test_the_overview_says_when_the_store_or_cluster_is_away(
        jp_fetch: Any, wb_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fine = await api(jp_fetch, "overview")
    assert fine["store"]["ok"] and fine["cluster"]["ok"] and fine["errors"] == {}
    monkeypatch.setenv("WORKBENCH_SCHEDULER", "tcp://127.0.0.1:9")
    away = await api(jp_fetch, "overview")
    assert not away["cluster"]["ok"] and "127.0.0.1:9" in away["cluster"]["error"]
    assert away["store"]["ok"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    gone = await api(jp_fetch, "overview")
    assert not gone["store"]["ok"] and gone["store"]["error"] and gone["runs"] == []


async def test_settings_move_the_store_for_the_server(
        jp_fetch: Any, wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from workbench.config import settings

    own = settings().tracking_uri
    # the server's environment as an admin set it (monkeypatch puts it back after the test)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", own)
    monkeypatch.setenv("WORKBENCH_SCHEDULER", "tcp://10.0.0.2:8786")
    empty = {"tracking_uri": "", "scheduler_address": " "}
    kept = await api(jp_fetch, "config", body=empty)  # a page load with empty settings
    assert kept == {"tracking_uri": own, "scheduler": "tcp://10.0.0.2:8786"}
    assert os.environ["MLFLOW_TRACKING_URI"] == own
    assert os.environ["WORKBENCH_SCHEDULER"] == "tcp://10.0.0.2:8786"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    moved = await api(jp_fetch, "config", body={"tracking_uri": other,
                                                "scheduler_address": "tcp://10.0.0.1:8786"})
    assert moved == {"tracking_uri": other, "scheduler": "tcp://10.0.0.1:8786"}
    assert os.environ["MLFLOW_TRACKING_URI"] == other
    assert "alice set MLFLOW_TRACKING_URI=" in caplog.text  # the log says who moved it
    caplog.clear()
    assert await api(jp_fetch, "config", body=empty, user="bob") == moved
    assert await api(jp_fetch, "config", body={"tracking_uri": other}) == moved
    assert "workbench-lab:" not in caplog.text  # nothing differed: nothing was set
    assert "nope" in await refused(jp_fetch, "config", code=400, body={"nope": 1})
