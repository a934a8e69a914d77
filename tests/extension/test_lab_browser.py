"""The Workbench in JupyterLab as a person meets it: a real `jupyter lab` process with
workbench-lab installed, headless Chromium, a real store and LocalCluster, two users.

alice opens her pilot notebook, finds the sidebar, narrows its runs to one experiment, opens a
run's details with its metric chart, runs the notebook as a job with a changed parameter (a typo
first), opens the executed copy, reads the drift report, opens a dashboard and asks to promote
her run with four eyes; bob approves it and reads the new champion's dossier. Names and reasons
hold markup that must stay text, and the sidebar sends one overview request per refresh, never
two at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser_page, frame_with_text
from tests.cli.test_lab import free_port
from tests.extension.conftest import notebook
from tests.promotion.runs import model_run

REPO = Path(__file__).resolve().parents[2]
MARKUP_RUN = "<img src=x onerror=window.__xss=1>"
MARKUP_EXPERIMENT = "<img src=x onerror=window.__xss=3> trials"
MARKUP_REASON = "<script>window.__xss=2</script> beats the baseline"
REFRESH_S = 2


def call(port: int, path: str, body: Any = None, token: str = "alice-token") -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/workbench/api/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}"}, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def lab(tmp_path: Path, wb_home: Path, dask_client: Any) -> Iterator[tuple[int, Path]]:
    """`jupyter lab` on loopback, on this test's store and the shared cluster, users by token."""
    root = tmp_path / "project"
    root.mkdir()
    settings = tmp_path / "lab-settings" / "workbench-lab"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps(
        {"refreshSeconds": REFRESH_S}))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "WORKBENCH_SCHEDULER": dask_client.scheduler.address,
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}
    as_root = ["--allow-root"] if os.geteuid() == 0 else []
    log = tmp_path / "lab.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
             f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=alice-token",
             f"--ServerApp.root_dir={root}",
             "--ServerApp.identity_provider_class=tests.extension.identities.NamedTokens",
             *as_root], cwd=root, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                call(port, "whoami")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield port, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def seed(root: Path) -> str:
    """The pilot notebook, a run of it (a model, a loss curve, a name with markup), a drift
    check, and a run in an experiment whose name holds markup."""
    import numpy as np
    import pandas as pd

    import workbench as wb
    from workbench.tracking.store import ensure_experiment, tracking_client

    notebook(root / "pilot.ipynb", "rows = 10\nscale = 2.0",
             body="print('result', rows * scale)")
    run_id = model_run(0.83)
    client = tracking_client()
    client.set_tag(run_id, "mlflow.runName", MARKUP_RUN)
    client.set_tag(run_id, "workbench.notebook", str(root / "pilot.ipynb"))
    for step, loss in enumerate((0.9, 0.6, 0.45, 0.4, 0.38)):
        client.log_metric(run_id, "loss", loss, step=step)
    other = client.create_run(ensure_experiment(client, MARKUP_EXPERIMENT), run_name="trial-1")
    client.set_terminated(other.info.run_id)
    client.create_registered_model("pilot")  # in production already, no champion yet
    rng = np.random.default_rng(0)
    wb.drift(pd.DataFrame({"x": rng.normal(0, 1, 300), "y": rng.normal(0, 1, 300)}),
             pd.DataFrame({"x": rng.normal(3, 1, 300), "y": rng.normal(0, 1, 300)})
             ).log(model="pilot")
    return run_id


class OverviewRequests:
    """Every GET overview the page sends, and the most ever in flight at once."""

    def __init__(self, page: Any) -> None:
        self.started: list[float] = []
        self.in_flight = 0
        self.most = 0
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    @staticmethod
    def _ours(request: Any) -> bool:
        return "/workbench/api/overview" in request.url

    def _start(self, request: Any) -> None:
        if self._ours(request):
            self.started.append(time.monotonic())
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def _end(self, request: Any) -> None:
        if self._ours(request):
            self.in_flight -= 1


def open_sidebar(page: Any) -> Any:
    """The Workbench sidebar, shown (its tab toggles it: a restored layout may show it already)."""
    sidebar = page.locator("#workbench-sidebar")
    tab = page.locator('.lm-TabBar-tab[data-id="workbench-sidebar"]')
    tab.wait_for()
    # Lab restores its layout after the tabs appear: a click before that can be undone by it
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=90_000)
    for _ in range(5):
        if sidebar.is_visible():
            return sidebar
        tab.click()
        with contextlib.suppress(Exception):  # playwright's TimeoutError: click again
            sidebar.wait_for(timeout=5_000)
    sidebar.wait_for()
    return sidebar


def dialog_button(page: Any, label: str) -> Any:
    return page.locator(".jp-Dialog").get_by_role("button", name=label, exact=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_workbench_journey_in_jupyterlab(lab: tuple[int, Path], tmp_path: Path) -> None:
    port, root = lab
    seed(root)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with browser_page() as page:
        overview = OverviewRequests(page)
        page.goto(f"http://127.0.0.1:{port}/lab/tree/pilot.ipynb?token=alice-token")
        sidebar = open_sidebar(page)
        for heading in ("Runs", "Models", "Pipelines"):
            assert sidebar.get_by_role("heading", name=heading, exact=True).is_visible()
        sidebar.get_by_role("button", name=f"Show run {MARKUP_RUN}").wait_for()
        assert sidebar.locator("img").count() == 0  # the markup is text
        model = sidebar.locator(".wb-model[data-model=pilot]")
        assert model.get_by_text("no champion").is_visible()
        assert sidebar.locator(".wb-banner").is_hidden()
        page.screenshot(path=str(shots / "1-sidebar.png"))

        # one request per refresh, never two at once (settings: every REFRESH_S seconds)
        counted_from = time.monotonic()
        page.wait_for_timeout(5 * REFRESH_S * 1000)
        window = [t for t in overview.started if t >= counted_from]
        assert 3 <= len(window) <= 6, window
        assert overview.most == 1

        # the runs of one experiment (its name holds markup: text in the filter and the list)
        choice = sidebar.locator("select.wb-experiment-filter")
        choice.select_option(label=MARKUP_EXPERIMENT)
        sidebar.locator(f".wb-experiment-group[data-experiment='{MARKUP_EXPERIMENT}']"
                        ).get_by_role("button", name="Show run trial-1").wait_for()
        page.wait_for_function("document.querySelectorAll('#workbench-sidebar .wb-run')"
                               ".length === 1")
        assert sidebar.locator(".wb-experiment-name").all_inner_texts() == [MARKUP_EXPERIMENT]
        assert sidebar.locator("img").count() == 0
        page.screenshot(path=str(shots / "1b-one-experiment.png"))
        choice.select_option(value="")
        sidebar.get_by_role("button", name=f"Show run {MARKUP_RUN}").wait_for()
        assert overview.most == 1

        # a run's details in a Lab tab: its loss curve drawn from the 5 steps logged
        sidebar.get_by_role("button", name=f"Show run {MARKUP_RUN}").click()
        details = page.locator(".wb-viewer", has=page.locator(".wb-run-meta")).last
        curve = details.get_by_role("img", name="loss over 5 steps")
        curve.wait_for()
        assert curve.locator("path").get_attribute("d").startswith("M")
        assert "loss: 0.38" in details.locator(".wb-charts").inner_text()
        assert details.get_by_role("heading", name=f"Run {MARKUP_RUN}").is_visible()
        page.screenshot(path=str(shots / "1c-run-details.png"))
        page.locator(".lm-TabBar-tab", has_text="pilot.ipynb").first.click()

        # Run as job: a typo is named beside its field, then the job runs with rows=7
        page.get_by_role("tabpanel", name="pilot.ipynb").get_by_text("Run as job").click()
        form = page.locator(".jp-Dialog .wb-params-form")
        assert form.locator("input[name=rows]").input_value() == "10"
        form.locator("input[name=rows]").fill("seven")
        dialog_button(page, "Run").click()
        error = page.locator(".jp-Dialog .wb-field-error")
        assert "rows must be a whole number" in error.inner_text()
        assert form.locator("input[name=rows]").input_value() == "seven"  # entries kept
        page.locator(".jp-Dialog .wb-params-form input[name=rows]").fill("7")
        dialog_button(page, "Run").click()
        opener = sidebar.get_by_role("button", name="Open executed notebook of ")
        opener.first.wait_for(timeout=180_000)
        job = opener.first.locator("xpath=..")  # its row
        assert job.locator(".wb-status").inner_text() == "FINISHED"
        opener.first.click()
        page.locator(".jp-OutputArea-output", has_text="result 14.0").first.wait_for()
        page.screenshot(path=str(shots / "2-executed-notebook.png"))

        # the drift report, sandboxed; a dashboard through Panel behind the same login
        sidebar.get_by_role("button", name="Show the drift report of pilot").click()
        report = page.locator("iframe.wb-report")
        report.wait_for()
        assert report.get_attribute("sandbox") == "allow-scripts"
        # the sidebar's words: the check's verdict at the threshold it recorded (wb.drift's)
        said = "data_drift fired · drift 0.5 / threshold 0.5"
        assert page.locator(".wb-drift-summary .wb-verdict").inner_text() == said
        assert sidebar.locator(".wb-model[data-model=pilot] .wb-drift").inner_text() == said
        frame_with_text(page, "Dataset Drift", timeout_s=60)
        page.screenshot(path=str(shots / "3-drift.png"))
        sidebar.get_by_role("button", name="Open the cockpit dashboard").click()
        app = page.frame_locator("iframe.wb-app")
        app.get_by_text("pilot", exact=True).first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "4-cockpit.png"))

        # Promote pilot with four eyes: the gates first, a reason with markup
        page.locator(".lm-TabBar-tab", has_text="pilot.ipynb").first.click()
        page.get_by_role("tabpanel", name="pilot.ipynb").get_by_text("Promote").click()
        promote = page.locator(".jp-Dialog .wb-promote-form")
        assert MARKUP_RUN in promote.locator("select[name=run] option").first.inner_text()
        promote.locator(".wb-preview", has_text="approver alice").wait_for()
        assert "no champion yet" in promote.locator(".wb-preview").inner_text()
        promote.locator("textarea[name=reason]").fill(MARKUP_REASON)
        promote.locator("input[name=four_eyes]").check()
        dialog_button(page, "Promote").click()
        pending = sidebar.locator(".wb-pending")
        pending.first.wait_for()
        assert MARKUP_REASON in pending.first.inner_text()
        assert (root / "pipelines" / "pilot.yaml").is_file()  # the pipeline, from the notebook

        # alice may not approve her own request: the dialog says why and nothing changes
        pending.first.get_by_role("button", name="Approve", exact=False).click()
        page.locator(".jp-Dialog textarea[name=reason]").fill("me too")
        dialog_button(page, "Approve").click()
        assert "four-eyes" in page.locator(".jp-Dialog .wb-field-error").inner_text()
        page.screenshot(path=str(shots / "5-four-eyes-refused.png"))
        dialog_button(page, "Cancel").click()
        assert page.evaluate("window.__xss") is None

        # the store goes away: the banner says so and the lists stay
        own = call(port, "config")["tracking_uri"]
        call(port, "config", {"tracking_uri": "http://127.0.0.1:9"})
        banner = sidebar.locator(".wb-banner[role=alert]")
        banner.wait_for(timeout=30_000)
        assert "Tracking store unreachable" in banner.inner_text()
        assert sidebar.locator(".wb-run").count() >= 2
        call(port, "config", {"tracking_uri": own})  # back: an empty one changes nothing
        banner.wait_for(state="hidden", timeout=30_000)

    with browser_page() as page:  # bob, in his own session
        page.goto(f"http://127.0.0.1:{port}/lab?token=bob-token")
        sidebar = open_sidebar(page)
        sidebar.locator(".wb-pending").first.get_by_role("button", name="Approve",
                                                          exact=False).click()
        page.locator(".jp-Dialog textarea[name=reason]").fill("checked the gates")
        dialog_button(page, "Approve").click()
        sidebar.locator(".wb-model[data-model=pilot]").get_by_text("champion v1").wait_for()
        page.screenshot(path=str(shots / "6-bob-approved.png"))

        # the new champion's dossier in a Lab tab: the version and its approval record
        sidebar.get_by_role("button", name="Show the dossier of pilot v1").click()
        report = page.locator("iframe.wb-report[title='Dossier of pilot v1']")
        report.wait_for()
        assert report.get_attribute("sandbox") == ""  # a dossier runs no script
        dossier = frame_with_text(page, "Current champion.", timeout_s=60)
        assert dossier.locator("h1").inner_text() == "pilot v1"
        approval = dossier.locator("xpath=//h2[normalize-space()='Approval']"
                                   "/following-sibling::table[1]").inner_text()
        assert "bob" in approval and "checked the gates" in approval, approval
        assert "promoted\tbob\tchecked the gates" in dossier.locator("body").inner_text()
        assert dossier.locator("script, img").count() == 0
        page.screenshot(path=str(shots / "7-dossier.png"))
    history = call(port, "models/pilot/history")
    assert history["entries"][-1]["approver"] == "bob" and history["champion"] == "1"
