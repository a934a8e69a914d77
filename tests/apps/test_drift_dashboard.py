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
    # each check judged at the threshold it recorded (the policy's 0.3), the monitor's words
    assert list(seen["history"]["threshold"]) == [0.3, 0.3]
    assert list(seen["history"]["state"]) == ["stable", "fired"]
    judged = seen["verdict"]
    assert judged["fired"] == ["data_drift"] and judged["threshold"] == 0.3
    share = f"{round(judged['share'], 2):g}"
    assert judged["text"] == f"data_drift fired · drift {share} / threshold 0.3"
    assert seen["history"]["verdict"].iloc[-1] == judged["text"]
    [signal] = seen["signals"]  # no champion: data drift is the one signal watched
    assert signal["name"] == "data_drift" and signal["fired"] and "columns drifted" in \
        signal["detail"]
    assert data_store.signal_rows(seen["signals"])["fired"].tolist() == ["yes"]
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
    from workbench.monitoring.verdict import check_signals, verdict

    when = pd.Timestamp("2026-12-01 10:00", tz="UTC")
    history = data_store.with_verdicts(pd.DataFrame({
        "time": [when], "version": [None], "share": [1.0], "run_id": ["r1"],
        "fired": [f"data_drift,{MARKUP}"], f"signal.{MARKUP}.value": [0.5]}), {"r1": 0.5})
    result = {"share": 1.0, "drifted_columns": [MARKUP], "current": f"data/{MARKUP}.parquet",
              "columns": {MARKUP: {"column_type": "categorical", "method": "chi-square p_value",
                                   "score": 0.0, "threshold": 0.05, "drifted": True}}}
    judged = verdict(share=1.0, threshold=0.5, fired=f"data_drift,{MARKUP}")
    signals = check_signals([{"name": MARKUP, "fired": True, "value": 0.5, "threshold": MARKUP,
                              "detail": MARKUP}], judged, result)
    data = {"history": history, "result": result, "threshold": 0.5, "retrainings": [],
            "policy_note": "", "latest": "r1", "verdict": judged, "signals": signals}
    assert history["verdict"].tolist() == [judged["text"]]
    assert judged["text"] == f"data_drift, {MARKUP} fired · drift 1 / threshold 0.5"
    shown = views.verdict(MARKUP, data).object
    assert MARKUP not in shown and "&lt;img src=x" in shown
    assert "data_drift, &lt;img src=x" in shown  # the fired signal's name, as text
    rows = data_store.signal_rows(signals)
    listed = views.signals_table(rows)
    assert all(listed.formatters[c] == {"type": "plaintext"} for c in rows.columns)
    assert listed.value["signal"].tolist() == [MARKUP]
    table = views.columns_table(data_store.column_rows(result))
    assert table.formatters["column"] == {"type": "plaintext"}
    assert table.value["column"].tolist() == [MARKUP]  # the value, drawn as text
    frame = views.report_frame(f"<html><body>{MARKUP}</body></html>").object
    assert 'sandbox="allow-scripts"' in frame and "<img" not in frame
    failed = [{"started": when.to_pydatetime(), "state": "failed"}]
    chart = views.share_figure(history, 0.5, failed).object
    assert {item.label["value"] for item in chart.legend[0].items} == {
        "check", "threshold 0.5", "retraining started"}
    assert views.signal_figures(history) == []  # not a signal the monitor knows: not drawn


def test_each_signal_is_drawn_over_time_with_the_checks_where_it_fired() -> None:
    times = pd.to_datetime(["2026-07-01", "2026-10-01", "2026-12-01"], utc=True)
    history = data_store.with_verdicts(pd.DataFrame({
        "time": times, "version": ["1", "1", "1"], "share": [0.1, 0.14, 0.14],
        "run_id": ["a", "b", "c"], "fired": ["", None, "performance"],
        "signal.performance.value": [0.684, None, 0.578],
        "signal.performance.fired": [0.0, None, 1.0],
        "signal.prediction_drift.value": [0.4, None, 0.01],
        "signal.prediction_drift.fired": [0.0, None, 0.0]}), {"a": 0.5, "c": 0.5})
    assert history["verdict"].tolist() == [
        "stable · drift 0.1 / threshold 0.5",
        "stable · drift 0.14 / threshold 0.5",  # a plain check: its data drift
        "performance fired · drift 0.14 / threshold 0.5"]
    assert history["fired_signals"].tolist() == [[], [], ["performance"]]
    drawn = views.signal_figures(history)
    assert [pane.name for pane in drawn] == ["prediction_drift over time",
                                             "performance over time"]
    legend = {item.label["value"] for item in drawn[1].object.legend[0].items}
    assert legend == {"fired", "held"}
    shares = views.share_figure(history, 0.5, []).object
    checks = next(r.data_source.data for r in shares.renderers
                  if "verdict" in r.data_source.data)
    assert checks["colour"] == [views.HELD] * 3  # data drift never fired
    assert checks["verdict"][-1] == "performance fired · drift 0.14 / threshold 0.5"


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
            ana.get_by_text("data_drift fired · drift").wait_for()
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
            ana.locator("div.alert", has_text="churn: nothing fired: drift share").wait_for()
            ana.get_by_text("2 checks in the history").wait_for()
            ana.get_by_text("stable · drift ").wait_for()  # the calm check is the newest
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
