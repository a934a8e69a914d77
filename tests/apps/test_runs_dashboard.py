"""`workbench dashboard` serving /runs to headless Chromium: a real server behind its login, a run
made through MlflowClient, markup in its name shown as text."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param

from tests.apps.test_promotion_dashboard import _login
from tests.browser import browser_page
from tests.cli.test_lab import free_port, service_env
from workbench.tracking.store import ensure_experiment, tracking_client

MARKUP = '<img src=x onerror="window.__pwned=1">'


@pytest.mark.timeout(300)
def test_runs_page_lists_the_run_and_shows_markup_as_text(wb_home: Path, tmp_path: Path) -> None:
    client = tracking_client()
    run = client.create_run(ensure_experiment(client), run_name=f"night {MARKUP}")
    client.log_batch(run.info.run_id, metrics=[Metric("loss", 0.5, 0, 0)],
                     params=[Param("note", MARKUP)])
    client.set_terminated(run.info.run_id)
    port = free_port()
    env = {**service_env(), "WORKBENCH_HOME": str(wb_home),
           "WORKBENCH_DASHBOARD_USERS": "ana:s3cret"}
    log = tmp_path / "dashboard.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("workbench")), "dashboard", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        with browser_page() as page:
            _login(page, f"http://127.0.0.1:{port}", server, log)
            page.goto(f"http://127.0.0.1:{port}/runs")
            cell = page.get_by_text(f"night {MARKUP}", exact=True).first  # pierces shadow DOM
            cell.wait_for(timeout=60_000)
            assert page.get_by_text(MARKUP, exact=True).first.is_visible()  # the param column
            assert page.get_by_text("Page 1, 1 runs").first.is_visible()
            time.sleep(1)  # a broken <img> fires onerror at once
            assert page.evaluate("window.__pwned") is None
            assert page.locator("img[src=x]").count() == 0
            page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
        assert (tmp_path / "runs.png").stat().st_size > 10_000
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
