"""`workbench dashboard`: a real Panel server behind a login, the promotion app seen in Chromium,
and the scheduler running beside it until the server stops."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from itertools import pairwise
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.browser import browser_page, frame_with_text
from tests.cli.test_lab import free_port, scheduled_project, service_env
from tests.promotion.test_promote import trained
from workbench_apps.promotion import data_store


def status_without_login(url: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=10) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), str(exc.headers.get("Location", ""))


def test_data_store_reads_champion_requests_and_history(tracking: MlflowClient) -> None:
    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    wb.promote("credit", run_id=trained(0.9), approver="ana", reason="v2", four_eyes=True)
    assert data_store.models() == ["credit"]  # the lock model is not listed
    summary = data_store.summary("credit")
    assert summary["champion"] == "1" and summary["history_ok"]
    assert [e["seq"] for e in summary["pending"]] == [2]
    assert list(summary["history"]["action"]) == ["requested", "promoted"]  # newest first
    assert summary["versions"] == ["1"]  # a pending request registers no version yet
    page = data_store.dossier_page("credit", "1")
    assert "<h1>credit v1</h1>" in page and "Current champion." in page


MARKUP = '<img src=x onerror="window.__pwned=1">'


@pytest.mark.timeout(300)
def test_markup_in_names_reasons_and_identities_is_shown_as_text(
        tracking: MlflowClient, wb_home: Path, tmp_path: Path) -> None:
    model = "credit<svg onload=window.__pwned=2>"
    wb.promote(model, run_id=trained(0.7), approver=f"ana{MARKUP}", reason=f"v1 {MARKUP}")
    wb.promote(model, run_id=trained(0.9), approver=f"bo{MARKUP}", reason=f"why {MARKUP}",
               four_eyes=True)
    port = free_port()
    env = {**service_env(), "WORKBENCH_HOME": str(wb_home),
           "WORKBENCH_COOKIE_SECRET": "cookie-secret-value-123",
           "WORKBENCH_DASHBOARD_USERS": "ana:s3cret"}
    with (tmp_path / "dashboard.log").open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("workbench")), "dashboard", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        with browser_page() as page:
            _login(page, f"http://127.0.0.1:{port}", server, tmp_path / "dashboard.log")
            page.goto(f"http://127.0.0.1:{port}/promotion")
            page.locator("p", has_text="Champion:").first.wait_for(timeout=60_000)
            page.get_by_text("requested", exact=True).first.wait_for(timeout=30_000)
            assert page.get_by_text(f"why {MARKUP}").first.is_visible()  # the pending request
            assert page.locator("h2", has_text=model).first.is_visible()  # heading, as text
            assert page.get_by_text(f"v1 {MARKUP}", exact=True).first.is_visible()  # table
            page.locator("canvas").first.wait_for()  # the champion's timeline
            page.get_by_role("button", name="Show dossier").click()
            dossier = frame_with_text(page, "What trained it")
            assert f"v1 {MARKUP}" in dossier.inner_text("body")  # the reason, as text
            time.sleep(1)  # a broken <img> fires onerror at once
            assert page.evaluate("window.__pwned") is None
            assert page.evaluate("document.querySelectorAll('img[src=x], svg[onload]').length") == 0
        lines = [" ".join(p.cmdline()) for p in
                 [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]]
        assert not [line for line in lines if "cookie-secret" in line or "s3cret" in line], \
            lines  # the login worked, and neither its password nor the secret is on argv
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _login(page: object, base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            status_without_login(f"{base}/promotion")
            break
        except OSError:
            time.sleep(0.5)
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "ana")  # type: ignore[attr-defined]
    page.fill("input[name=password]", "s3cret")  # type: ignore[attr-defined]
    page.click("button[type=submit], input[type=submit]")  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dashboard_needs_a_login_shows_the_model_and_runs_the_scheduler(
        tracking: MlflowClient, wb_home: Path, tmp_path: Path) -> None:
    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    wb.promote("credit", run_id=trained(0.9), approver="ana", reason="v2", four_eyes=True)
    project = scheduled_project(tmp_path / "project")
    port = free_port()
    users = tmp_path / "users.txt"
    users.touch(mode=0o600)
    users.write_text("# who may log in\nana:s3cret\n")
    env = service_env()
    env["WORKBENCH_HOME"] = str(wb_home)
    log = tmp_path / "dashboard.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("workbench")), "dashboard", "--scheduler",
             "--port", str(port), "--users-file", str(users)],
            cwd=project, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                code, where = status_without_login(f"{base}/promotion")
                break
            except OSError:
                time.sleep(0.5)
        assert code == 302 and where.endswith("login?next=%2Fpromotion")  # no login, no app
        with browser_page() as page:
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "ana")
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit], input[type=submit]")
            assert "error=" in page.url
            page.fill("input[name=username]", "ana")
            page.fill("input[name=password]", "s3cret")
            page.click("button[type=submit], input[type=submit]")
            page.goto(f"{base}/promotion")
            card = page.locator("p", has_text="Champion:").first  # CSS pierces shadow roots
            card.wait_for(timeout=60_000)
            assert "Champion: v1" in card.inner_text()
            assert "History chain: intact" in card.inner_text()
            assert page.get_by_text("credit/2").first.is_visible()
            assert page.get_by_text("requested", exact=True).first.is_visible()  # the table
        while time.monotonic() < deadline and not (project / "ticked.txt").exists():
            time.sleep(1)
        assert (project / "ticked.txt").read_text() == "yes"  # the scheduler ran the slot
        children = psutil.Process(server.pid).children(recursive=True)
        listening = {c.laddr.ip for c in psutil.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening and listening <= {"127.0.0.1", "::1"}, listening
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    time.sleep(1)
    assert [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []


def test_a_malformed_login_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from tests.cli.test_cli import workbench

    done = workbench("dashboard", home=tmp_path / "wb", cwd=tmp_path, timeout=60,
                     env={"WORKBENCH_DASHBOARD_USERS": "ana:s3cret,bo"})
    assert (done.returncode, done.stderr) == (1, "error: WORKBENCH_DASHBOARD_USERS: entry 2 is "
                                                 "not user:password (e.g. ana:s3cret)\n")
    twice = workbench("dashboard", home=tmp_path / "wb", cwd=tmp_path, timeout=60,
                      env={"WORKBENCH_DASHBOARD_USERS": "ana:a,ana:b"})
    assert (twice.returncode, twice.stderr) == \
        (1, "error: WORKBENCH_DASHBOARD_USERS names 'ana' twice; give each person once\n")


def test_runs_link_to_the_mlflow_ui_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.config import mlflow_ui, run_url
    from workbench_apps.promotion import views

    monkeypatch.delenv("WORKBENCH_MLFLOW_UI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/x.db")
    assert mlflow_ui() is None and run_url("abc") is None  # the embedded store has no UI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://ana:pw@mlflow.example.org:5443/")
    assert run_url("abc") == "https://mlflow.example.org:5443/#/runs/abc"  # no credentials
    monkeypatch.setenv("WORKBENCH_MLFLOW_UI", "http://127.0.0.1:5000")
    card = views.request_card("m", {"seq": 2, "version": "3", "run_id": "abc",
                                    "requester": "ana", "reason": "r", "gates": []}, None)
    assert 'href="http://127.0.0.1:5000/#/runs/abc"' in card.objects[0].object



def test_a_request_says_what_it_asks_and_never_none() -> None:
    from workbench_apps.promotion import views

    run = "8cda2627e49746a0975a4c9618b2de1a"
    asked = views.request_card("m", {"seq": 2, "version": None, "run_id": run, "requester": None,
                                     "reason": MARKUP, "at": None, "gates": []}, None)
    head = asked.objects[0].object
    assert "promotion of run <code" in head and ">8cda2627</code>" in head, head
    assert "None" not in head and "vNone" not in head
    assert "&lt;img src=x" in head and "<img" not in head  # the reason, as text
    rollback = views.request_card("m", {"seq": 3, "kind": "rollback", "version": "1",
                                        "run_id": run, "requester": "bo", "reason": "r",
                                        "at": "2026-01-01T00:00:00+00:00"}, None)
    assert "rollback to v1 (run <code" in rollback.objects[0].object


# The Bokeh x axis as the browser drew it: its major ticks (ms since the epoch), their labels,
# and the range shown.
_X_AXIS = """() => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.type !== 'DatetimeAxis') continue;
    const ticks = v.tick_coords.major[v.dimension];
    const range = v.parent.frame.x_range;
    return {ticks, labels: v.model.formatter.doFormat(ticks, {loc: 0}),
            start: range.start, end: range.end};
  }
  return null;
}"""

# Each history header as the browser lays it out: its text, and whether CSS cuts it.
_HEADERS = """() => {
  const all = (root, acc) => {
    root.querySelectorAll('.tabulator-col-title').forEach(e => acc.push(e));
    root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) all(e.shadowRoot, acc); });
    return acc;
  };
  return all(document, []).filter(t => t.textContent.trim())
    .map(t => [t.textContent.trim(), t.scrollWidth, t.clientWidth, t.offsetWidth]);
}"""


@pytest.mark.timeout(300)
def test_one_champion_and_a_request_read_in_full_in_the_browser(
        tracking: MlflowClient, wb_home: Path, tmp_path: Path) -> None:
    """What a first look at /promotion showed: "promotion of vNone" for a request, a one-point
    timeline labelled in microseconds, history headers cut to "s..", "act..."."""
    from datetime import datetime, timedelta

    from workbench_apps.promotion.views import HISTORY_TITLES

    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    run = trained(0.9)
    wb.promote("credit", run_id=run, approver="ana", reason=f"v2 {MARKUP}", four_eyes=True)
    promoted = datetime.fromisoformat(wb.history("credit")[0]["at"])
    port = free_port()
    env = {**service_env(), "WORKBENCH_HOME": str(wb_home),
           "WORKBENCH_COOKIE_SECRET": "cookie-secret-value-123",
           "WORKBENCH_DASHBOARD_USERS": "ana:s3cret"}
    with (tmp_path / "dashboard.log").open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("workbench")), "dashboard", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        with browser_page() as page:  # 1280 px wide, the sidebar open: the default page
            _login(page, f"http://127.0.0.1:{port}", server, tmp_path / "dashboard.log")
            page.goto(f"http://127.0.0.1:{port}/promotion")
            card = page.locator("p", has_text="credit/2").first
            card.wait_for(timeout=60_000)
            said = card.inner_text()
            assert f"promotion of run {run[:8]}, requested by ana" in said, said
            assert "None" not in said and f"v2 {MARKUP}" in said  # markup shown as text

            page.locator("canvas").first.wait_for()
            page.wait_for_function("() => window.Bokeh && [...Bokeh.index.all_views()]"
                                   ".some(v => v.model.type === 'DatetimeAxis')")
            axis = page.evaluate(_X_AXIS)
            assert axis and len(axis["ticks"]) >= 2, axis
            assert axis["end"] - axis["start"] >= 3_600_000, axis  # hours around the point
            assert min(b - a for a, b in pairwise(axis["ticks"])) >= 60_000, axis
            times = [label.split("\n")[0] for label in axis["labels"]]
            assert all(re.fullmatch(r"\d\d:\d\d(:\d\d)?|\d{4}-\d\d(-\d\d)?", t)
                       for t in times), axis["labels"]  # no "500us", no ":15"
            shown = "\n".join(axis["labels"])
            days = {(promoted - timedelta(hours=h)).strftime("%Y-%m-%d") for h in (0, 1)}
            assert any(day in shown for day in days), axis["labels"]  # and its date, below

            page.get_by_text("requested", exact=True).first.wait_for()
            headers = page.evaluate(_HEADERS)
            assert [h[0] for h in headers] == list(HISTORY_TITLES.values()), headers
            cut = [h for h in headers if h[1] > h[2]]
            assert not cut, f"headers cut by CSS (text, scrollWidth, clientWidth): {cut}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
