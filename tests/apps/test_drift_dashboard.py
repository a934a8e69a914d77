"""The drift dashboard without a browser: what its data store reads and refuses, and views that
show column names and paths as text."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.apps.test_promotion_actions import logged_in, start_dashboard
from tests.apps.test_promotion_dashboard import MARKUP, status_without_login
from tests.browser import browser_page, frame_with_text
from tests.pipelines.test_monitor import project  # noqa: F401 - the fixture
from workbench.dashboard import APPS
from workbench_apps.drift import data_store, views


def test_the_page_reads_a_models_history_and_runs_checks_in_the_project(
        tracking: MlflowClient, project: Path) -> None:  # noqa: F811
    assert data_store.models() == []
    empty = data_store.overview("churn", project)
    assert empty["result"] is None and empty["threshold"] == 0.3 and not len(empty["history"])

    refused = [data_store.check("churn", path, project)
               for path in ("", "../outside.parquet", "nowhere.parquet")]
    assert [o.ok for o in refused] == [False] * 3
    assert refused[0].message.startswith("give the path")
    assert "is outside the project" in refused[1].message
    assert refused[2].message == f"nowhere.parquet does not exist under the project {project}"
    assert wb.drift_history("churn").empty  # nothing was logged

    calm = data_store.check("churn", "calm.parquet", project)
    moved = data_store.check("churn", " moved.parquet ", project, user="ana")
    assert calm.ok and moved.ok, (calm, moved)
    assert moved.message.endswith("checked only, no retraining started")
    assert tracking.get_run(moved.run_id).data.tags["workbench.checked_by"] == "ana"
    assert not (project / "retrained.txt").exists()
    seen = data_store.overview("churn", project)
    assert list(seen["history"]["run_id"]) == [calm.run_id, moved.run_id]
    assert seen["latest"] == moved.run_id and seen["retrainings"] == []
    rows = data_store.column_rows(seen["result"])
    assert list(rows.columns) == data_store.COLUMNS
    assert rows["drifted"].iloc[0] == "yes" and rows["drifted"].iloc[-1] == "no"
    assert "<html" in data_store.report(moved.run_id).lower()
    assert data_store.models() == ["churn"]

    both = data_store.compare("train.parquet", "moved.parquet", project)
    assert both.ok and both.result.drifted and both.message.startswith("drift detected")
    assert not data_store.compare("train.parquet", "/etc/passwd", project).ok
    assert len(wb.drift_history("churn")) == 2  # comparing logs nothing
    other = data_store.check("other", "calm.parquet", project)
    assert not other.ok and other.message.startswith("no pipeline in"), other


def test_views_show_names_and_paths_as_text() -> None:
    when = pd.Timestamp("2026-12-01 10:00", tz="UTC")
    history = pd.DataFrame({"time": [when], "version": [None], "share": [1.0],
                            "run_id": ["r1"]})
    result = {"share": 1.0, "drifted_columns": [MARKUP], "current": f"data/{MARKUP}.parquet",
              "columns": {MARKUP: {"column_type": "categorical", "method": "chi-square p_value",
                                   "score": 0.0, "threshold": 0.05, "drifted": True}}}
    data = {"history": history, "result": result, "threshold": 0.5, "retrainings": [],
            "policy_note": "", "latest": "r1"}
    shown = views.verdict(MARKUP, data).object
    assert MARKUP not in shown and "&lt;img src=x" in shown
    table = views.columns_table(data_store.column_rows(result))
    assert table.formatters["column"] == {"type": "plaintext"}
    assert table.value["column"].tolist() == [MARKUP]  # the value, drawn as text
    frame = views.report_frame(f"<html><body>{MARKUP}</body></html>").object
    assert 'sandbox="allow-scripts"' in frame and "<img" not in frame
    failed = [{"started": when.to_pydatetime(), "state": "failed"}]
    chart = views.share_figure(history, 0.5, failed).object
    assert {item.label["value"] for item in chart.legend[0].items} == {
        "check", "threshold 0.5", "retraining started"}


@pytest.mark.timeout(420)
def test_the_drift_page_and_the_not_found_page_in_the_browser(
        tracking: MlflowClient, wb_home: Path, project: Path, tmp_path: Path,  # noqa: F811
        ) -> None:
    """Ana sees the verdict, the share over time, a column named in markup as text and
    Evidently's report; a path outside the project is refused in the form, a good one adds a
    check; an unknown route is our page behind the login."""
    for name, share in (("train", 0.1), ("moved", 0.9)):
        frame = pd.read_parquet(project / f"{name}.parquet")
        frame[MARKUP] = np.where(np.arange(len(frame)) % 10 < share * 10, MARKUP, "plain")
        frame.to_parquet(project / f"{name}.parquet")
    first = wb.check_drift("churn", project / "moved.parquet", root=project)
    assert MARKUP in first.columns
    server, base = start_dashboard(wb_home, tmp_path, cwd=project)
    try:
        for route in ("/", *(f"/{app}" for app in APPS), "/no-such-page"):
            status, location = status_without_login(f"{base}{route}")
            assert status == 302 and location.split("?")[0].endswith("/login"), route
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/no-such-page", data=b"x"),
                                   timeout=30)
        assert refused.value.code == 403
        with browser_page() as first_page:
            ana = logged_in(first_page.context.browser, base, "ana", "s3cret")
            ana.goto(f"{base}/drift")
            ana.get_by_text("drift over the threshold").wait_for()
            ana.get_by_text("1 check in the history, 0 retrainings").wait_for()
            ana.locator(".tabulator-cell", has_text=MARKUP).first.wait_for()  # as text
            ana.locator("canvas").first.wait_for()  # the share-over-time chart
            frame_with_text(ana, "Dataset Drift", timeout_s=120)  # Evidently's own page
            field = ana.get_by_label("Production data (path in the project)")
            field.fill("../outside.parquet")
            ana.get_by_role("button", name="Run a new check").click()
            ana.locator("div.alert", has_text="is outside the project").wait_for()
            field.fill("calm.parquet")
            ana.get_by_role("button", name="Run a new check").click()
            ana.locator("div.alert", has_text="checked only, no retraining started").wait_for()
            ana.get_by_text("2 checks in the history").wait_for()
            ana.screenshot(path=str(tmp_path / "drift.png"), full_page=True)
            assert ana.evaluate("window.__pwned") is None
            ana.goto(f"{base}/cockpit")  # the cockpit links each model into /drift
            ana.get_by_role("heading", name="Training now").wait_for()
            ana.locator("a[href='/drift?model=churn']").first.click()
            ana.get_by_text("2 checks in the history").wait_for()
            shown = ana.goto(f"{base}/no-such-<b>page")
            assert shown is not None and shown.status == 404
            ana.get_by_text("Signed in as ana").wait_for()
            assert ana.get_by_role("link", name="Drift").is_visible()
            assert "<b>" in ana.locator("h2 code").inner_text()  # the path, as text
        checks = wb.drift_history("churn")
        assert len(checks) == 2
        newest = tracking.get_run(str(checks["run_id"].iloc[-1]))
        assert newest.data.tags["workbench.checked_by"] == "ana"  # the login, recorded
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
