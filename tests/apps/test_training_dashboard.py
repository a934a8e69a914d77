"""The training dashboard without a browser: a function's typed fields, what a launch refuses
(in one line, before anything runs), a run and a sweep launched and read while they run, and a
cancel."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tests.apps.test_promotion_actions import logged_in, start_dashboard
from tests.browser import browser_page
from tests.helpers import on_cluster
from workbench.errors import WorkbenchError
from workbench_apps.training import data_store

SMALL = {"rows": 400, "epochs": 2, "batch_size": 64}


def test_the_demos_fields_come_from_its_schema(tmp_path: Path) -> None:
    fields = {p.name: p for p in data_store.params_of(
        data_store.checked_function(data_store.DEMO, tmp_path))}
    assert fields["epochs"].kind == "int" and fields["epochs"].default == 8
    assert fields["epochs"].bounds == "≥ 1, ≤ 10000"
    assert fields["lr"].kind == "float" and fields["lr"].bounds == "> 0"
    assert fields["checkpoint_every"].help.startswith("epochs between checkpoints")


def test_only_the_projects_functions_and_the_demo_can_be_launched(tmp_path: Path) -> None:
    (tmp_path / "my_model.py").write_text(
        "from typing import Literal\n"
        "from pydantic import BaseModel\n"
        "import workbench as wb\n"
        "class P(BaseModel):\n"
        "    kind: Literal['a', 'b'] = 'a'\n"
        "    scale: float | None = None\n"
        "    fast: bool = True\n"
        "@wb.trainable(params=P)\n"
        "def fit(ctx):\n"
        "    return None\n")
    fn = data_store.checked_function("my_model:fit", tmp_path)
    kinds = {p.name: (p.kind, p.options) for p in data_store.params_of(fn)}
    assert kinds == {"kind": ("choice", ("a", "b")), "scale": ("float", ()),
                     "fast": ("bool", ())}
    for ref, said in (("os:system", "is not a file of the project"),
                      ("json:dumps", "is not a file of the project"),
                      ("my_model", "is not module:function"),
                      ("nowhere:fit", "is not a file of the project")):
        with pytest.raises(WorkbenchError, match=said):
            data_store.checked_function(ref, tmp_path)


def test_bad_input_is_refused_before_anything_runs(tracking: MlflowClient,
                                                   tmp_path: Path) -> None:
    said = [data_store.launch(data_store.DEMO, {**SMALL, "lr": 0}, tmp_path),
            data_store.launch(data_store.DEMO, SMALL, tmp_path, data_path="../x.parquet"),
            data_store.launch(data_store.DEMO, SMALL, tmp_path, sweep_space="lr=", metric="m"),
            data_store.launch(data_store.DEMO, SMALL, tmp_path, sweep_space="lr=0.1,0.2",
                              metric=" ")]
    assert not any(o.ok for o in said)
    assert said[0].message.startswith("parameter 'lr'=0") and "greater than 0" in said[0].message
    assert "is outside the project" in said[1].message
    assert said[2].message.startswith("'lr=' is not name=v1,v2")
    assert said[3].message.startswith("a sweep needs the metric")
    assert tracking.search_runs([e.experiment_id for e in tracking.search_experiments()]) == []


@pytest.mark.timeout(300)
def test_a_run_and_a_sweep_grow_their_curves_and_a_cancel_stops(tracking: MlflowClient,
                                                                tmp_path: Path) -> None:
    run = data_store.launch(data_store.DEMO, SMALL, tmp_path, user="ana")
    assert run.ok, run.message
    run.job.result(timeout=180)
    seen = data_store.snapshot(run.job, None)
    assert seen["status"] == "FINISHED" and "val_loss" in seen["metrics"]
    assert len(seen["curves"][run.job.run_id][seen["metric"]]) == 2  # a point per epoch
    assert tracking.get_run(run.job.run_id).data.tags["workbench.launched_by"] == "ana"

    sweep = data_store.launch(data_store.DEMO, SMALL, tmp_path, sweep_space="lr=0.01,0.03\n",
                              metric="val_loss")
    assert sweep.ok and sweep.message.endswith("2 trials"), sweep.message
    sweep.job.result(timeout=180)
    both = data_store.snapshot(sweep.job, "val_loss")
    assert both["status"] == "FINISHED" and set(both["curves"]) == set(both["runs"])

    slow = data_store.launch(data_store.DEMO, {**SMALL, "rows": 20_000, "epochs": 500},
                             tmp_path)
    deadline = time.monotonic() + 120
    while data_store.snapshot(slow.job, None)["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.5)
    assert data_store.cancel(slow.job).ok
    assert slow.job.status() == "KILLED"


@pytest.mark.timeout(420)
def test_launch_watch_and_cancel_from_the_browser(tracking: MlflowClient, wb_home: Path,
                                                  tmp_path: Path, dask_client: Any) -> None:
    """Ana fills in the demo's typed fields, is refused a bad learning rate in the form,
    launches a run and watches its steps and curve grow to the end, then cancels a long one."""
    project = tmp_path / "project"
    project.mkdir()
    server, base = start_dashboard(wb_home, tmp_path, cwd=project, env=on_cluster(dask_client))
    try:
        with browser_page() as first:
            ana = logged_in(first.context.browser, base, "ana", "s3cret")
            ana.goto(f"{base}/training")
            fields = {name: ana.get_by_label(re.compile(f"^{name}( |:|$)"))
                      for name in ("epochs", "rows", "lr", "batch_size")}
            fields["epochs"].wait_for()
            for name, value in (("rows", "20000"), ("epochs", "40"), ("batch_size", "64"),
                                ("lr", "0")):
                fields[name].fill(value)
                fields[name].press("Enter")  # numeric inputs commit their value on Enter
            ana.get_by_role("button", name="Launch").click()
            ana.locator("div.alert", has_text="parameter 'lr'=0").wait_for()
            fields["lr"].fill("0.01")
            fields["lr"].press("Enter")
            ana.get_by_role("button", name="Launch").click()
            ana.locator("div.alert", has_text="started").wait_for(timeout=120_000)
            steps: set[str] = set()
            deadline = time.monotonic() + 180
            while not ana.get_by_text("finished: run").count():
                assert time.monotonic() < deadline, f"never finished; steps seen {steps}"
                shown = " ".join(ana.locator("ul").all_inner_texts())
                steps.update(re.findall(r"step \d+/40", shown))
                ana.wait_for_timeout(300)
            assert len(steps) >= 2, f"the steps did not grow on the page: {steps}"
            ana.locator("canvas").first.wait_for()  # the val_loss curve
            ana.screenshot(path=str(tmp_path / "training.png"))
            fields["epochs"].fill("2000")
            fields["epochs"].press("Enter")
            ana.get_by_role("button", name="Launch").click()
            ana.get_by_text("running, step").first.wait_for(timeout=120_000)
            other = ana.context.new_page()  # the server stays responsive while it trains
            started = time.monotonic()
            other.goto(f"{base}/cockpit")
            other.get_by_role("heading", name="Training now").wait_for(timeout=60_000)
            [live] = tracking.search_runs(
                [e.experiment_id for e in tracking.search_experiments()],
                filter_string="attributes.status = 'RUNNING'")
            other.get_by_role("link", name=live.info.run_name).first.wait_for(
                timeout=30_000)  # the cockpit lists the running run
            assert time.monotonic() - started < 60
            other.close()
            ana.get_by_role("button", name="Cancel").click()
            ana.locator("div.alert", has_text="cancelled: run").wait_for(timeout=120_000)
        runs = tracking.search_runs([e.experiment_id for e in tracking.search_experiments()],
                                    order_by=["attributes.start_time ASC"])
        assert [r.info.status for r in runs] == ["FINISHED", "KILLED"]
        assert {r.data.tags.get("workbench.launched_by") for r in runs} == {"ana"}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
