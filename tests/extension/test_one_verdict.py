"""One verdict for one check, on every surface (issue 24): Lab's sidebar and drift tab, the
/drift and /cockpit dashboards and their JSON all say which signal fired and the drift share
against the threshold the check recorded, in the same words.

The browser test is the case the issue met: the champion's performance fell (performance
fired) while the data drift share (0.14) stayed under the policy threshold (0.5). The check is
logged the way the monitor logs one: the drift result with the list of signals.
"""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.apps.test_promotion_actions import logged_in, start_dashboard
from tests.browser import browser_page
from tests.extension.test_lab_browser import call, lab, open_sidebar  # noqa: F401 - fixture
from tests.pipelines.test_monitor import project  # noqa: F401 - the fixture
from workbench.monitoring.signals import Signal

MODEL = "<img src=x onerror=window.__pwned=1> flights"
SAID = "performance fired · drift 0.14 / threshold 0.5"
VERDICT_KEYS = ("state", "fired", "share", "threshold", "drifting", "why", "text")


def monitored_check(model: str, auc: float, *, fired: bool, seed: int) -> str:
    """A check as `wb.monitor` logs it: 1 of 7 columns drifted (share 0.14, under the 0.5
    threshold), the predictions hold, the champion's AUC on labelled rows is `auc`."""
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({f"x{i}": rng.normal(0, 1, 400) for i in range(7)})
    current = reference.assign(x0=reference["x0"] + 4)  # only x0 moves
    result = wb.drift(reference, current, drift_share=0.5)
    assert result.drifted_columns == ["x0"] and not result.drifted
    signals = [
        Signal("data_drift", False, result.share, ">= 0.5", "1 of 7 columns drifted (x0)"),
        Signal("prediction_drift", False, 0.21, "K-S p_value <= 0.05",
               "predictions hold: mean 0.546 on the training data, 0.55 on production data"),
        Signal("performance", fired, auc, "auc < 0.65",
               f"auc {auc:.4g} on 400 labelled production rows (reference 0.684)"
               + (": below the minimum 0.65" if fired else ""))]
    return result.log(model=model, signals=[s.to_dict() for s in signals])


def test_a_verdict_is_read_from_what_the_check_recorded() -> None:
    from workbench.monitoring.verdict import number, of_run, recorded_threshold, verdict

    plain = verdict(share=0.5, threshold=0.5, fired=None)  # wb.drift(...).log(model=...)
    assert (plain["state"], plain["fired"], plain["text"]) == (
        "fired", ["data_drift"], "data_drift fired · drift 0.5 / threshold 0.5")
    assert plain["why"] == "data_drift fired: drift share 0.5 at or over the threshold 0.5"
    quiet = verdict(share=0.14, threshold=0.5, fired="", values={"performance": 0.684})
    assert (quiet["state"], quiet["drifting"], quiet["text"]) == (
        "stable", False, "stable · drift 0.14 / threshold 0.5")
    assert quiet["why"] == "nothing fired: drift share 0.14 under the threshold 0.5"
    both = of_run({"workbench.fired": "data_drift,performance"},
                  {"drift.share": 2 / 3, "signal.performance.value": 0.5781},
                  {"drift.drift_share": "0.3"})
    assert both["text"] == "data_drift, performance fired · drift 0.67 / threshold 0.3"
    assert both["why"] == ("data_drift fired: drift share 0.67 at or over the threshold 0.3; "
                           "performance fired (0.5781)")
    assert recorded_threshold({"drift.drift_share": "0.3"}, {"drift_share": 0.4}) == 0.4
    assert recorded_threshold({"drift.drift_share": "x"}) == 0.5  # DriftResult's default
    assert [number(v) for v in (1 / 7, 0.5, 1.0, 0.0)] == ["0.14", "0.5", "1", "0"]


def test_every_surface_judges_a_check_at_the_threshold_it_recorded(
        tracking: MlflowClient, project: Path) -> None:  # noqa: F811
    """The spec's threshold moves after a check: the check keeps its verdict everywhere."""
    from workbench.overview import model_overview
    from workbench_apps.cockpit import data_store as cockpit
    from workbench_apps.drift import data_store as drift_page
    from workbench_apps.drift import views as drift_views
    from workbench_lab import views as lab_views

    done = wb.check_drift("churn", project / "moved.parquet", root=project)
    assert done.fired == ["data_drift"] and done.threshold == 0.3
    spec = project / "pipelines" / "retrain.yaml"
    spec.write_text(spec.read_text().replace("threshold: 0.3", "threshold: 0.9"))

    [sidebar] = model_overview(project)
    tab = lab_views.drift(done.check_run_id)
    page = drift_page.overview("churn", project)
    [row] = cockpit.models()
    said = f"data_drift fired · drift {round(done.share, 2):g} / threshold 0.3"
    for seen in (sidebar["drift"], tab, page["verdict"]):
        assert {k: seen[k] for k in VERDICT_KEYS} == {k: sidebar["drift"][k]
                                                      for k in VERDICT_KEYS}
        assert seen["text"] == said and seen["fired"] == ["data_drift"]
    assert (row["verdict"], row["fired"], row["threshold"]) == (said, ["data_drift"], 0.3)
    assert page["threshold"] == 0.9  # the line that retrains now, said beside the verdict
    note = drift_views.verdict("churn", page).object
    assert "threshold is 0.9 now; this check was judged at the 0.3 it recorded" in note
    assert [s["name"] for s in tab["signals"]] == [s["name"] for s in done.signals]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_lab_and_the_dashboards_show_one_verdict(
        lab: tuple[int, Path], wb_home: Path, tmp_path: Path) -> None:  # noqa: F811
    port, root = lab
    monitored_check(MODEL, 0.684, fired=False, seed=1)  # July: performance held
    newest = monitored_check(MODEL, 0.578, fired=True, seed=2)  # December: it fell

    # the JSON behind the sidebar and the drift tab
    [model] = call(port, "overview")["models"]
    tab = call(port, f"drift/{newest}")
    assert model["model"] == MODEL and model["drift"]["run_id"] == newest
    for seen in (model["drift"], tab):
        assert seen["text"] == SAID and seen["fired"] == ["performance"]
        assert seen["state"] == "fired" and seen["drifting"] is True
        assert seen["threshold"] == 0.5
        assert seen["why"].startswith("performance fired (0.578); drift share 0.14 under")
    assert [(s["name"], s["fired"]) for s in tab["signals"]] == [
        ("data_drift", False), ("prediction_drift", False), ("performance", True)]

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with browser_page() as page:
        page.goto(f"http://127.0.0.1:{port}/lab?token=alice-token")
        sidebar = open_sidebar(page)
        row = sidebar.locator(".wb-model", has_text="flights")
        row.wait_for()
        assert row.locator(".wb-model-name").inner_text() == MODEL  # the markup, as text
        drift = row.locator(".wb-drift")
        assert drift.inner_text() == SAID
        assert "wb-mod-drifting" in (drift.get_attribute("class") or "")
        assert (drift.get_attribute("title") or "").startswith("performance fired (0.578)")
        drift.click()
        shown = page.locator(".wb-viewer", has=page.locator(".wb-drift-summary")).last
        shown.locator(".wb-verdict").wait_for()
        assert shown.locator(".wb-verdict").inner_text() == SAID
        assert shown.get_by_role("heading").first.inner_text() == f"Drift of {MODEL}"
        fell = shown.locator(".wb-drift-signals tr[data-signal=performance]")
        assert "yes" in fell.inner_text() and "below the minimum 0.65" in fell.inner_text()
        assert "no" in shown.locator(".wb-drift-signals tr[data-signal=data_drift]").inner_text()
        assert page.locator("#workbench-sidebar img, .wb-viewer img").count() == 0
        page.screenshot(path=str(shots / "lab.png"))
        assert page.evaluate("window.__pwned") is None

    server, base = start_dashboard(wb_home, tmp_path, cwd=root)
    try:
        with browser_page() as first:
            ana = logged_in(first.context.browser, base, "ana", "s3cret")
            ana.goto(f"{base}/drift?model={quote(MODEL, safe='')}")
            verdict = ana.locator("p.wb-verdict")
            verdict.wait_for()
            assert verdict.inner_text() == SAID
            assert ana.locator("p.wb-why").inner_text().startswith("performance fired (0.578)")
            assert MODEL in ana.locator("h2", has_text="flights").first.inner_text()
            assert "2 checks in the history" in ana.get_by_text("checks in the history"
                                                                ).first.inner_text()
            ana.get_by_text("Signals of the newest check").wait_for()
            ana.locator(".tabulator-cell", has_text="below the minimum 0.65").first.wait_for()
            ana.locator("canvas").first.wait_for()  # the share, and each signal, over time
            ana.screenshot(path=str(shots / "drift.png"), full_page=True)
            assert ana.evaluate("window.__pwned") is None

            ana.goto(f"{base}/cockpit")
            said = ana.locator("b.wb-verdict")
            said.wait_for()
            assert said.inner_text() == SAID
            link = ana.locator(f"a[href='/drift?model={quote(MODEL, safe='')}']",
                               has=said)
            assert (link.get_attribute("title") or "").startswith("performance fired (0.578)")
            assert ana.get_by_role("link", name=MODEL).first.inner_text() == MODEL
            ana.screenshot(path=str(shots / "cockpit.png"), full_page=True)
            assert ana.evaluate("window.__pwned") is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
