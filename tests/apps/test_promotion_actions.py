"""Deciding in `/promotion`: approve and decline as the signed-in user (a restarted dashboard
that no longer holds the login refuses), four-eyes between logins, a rollback only after a
confirmation that names both versions; refusals are one line on the page and move nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.apps.test_promotion_dashboard import MARKUP, status_without_login
from tests.browser import browser_page
from tests.cli.test_lab import free_port, service_env
from tests.helpers import wait_for
from tests.promotion.test_promote import trained
from workbench.promotion.registry import FOUR_EYES_TAG
from workbench_apps.identity import SignedIn
from workbench_apps.promotion import data_store


def test_decisions_are_taken_as_the_user_and_refusals_move_nothing(
        tracking: MlflowClient) -> None:
    wb.promote("loans", run_id=trained(0.7), approver="ana", reason="v1")
    wb.promote("loans", run_id=trained(0.9), approver="ana", reason="v2", four_eyes=True)
    assert not data_store.decide("loans/2", "approve", who=SignedIn(None), reason="ok").ok
    assert data_store.decide("loans/2", "approve", who=SignedIn("bo"), reason=" ").message == \
        "write a reason first: the history records why"
    own = data_store.decide("loans/2", "approve", who=SignedIn(" ANA "), reason="mine")
    assert not own.ok and own.message.startswith("four-eyes policy"), own
    restarted = data_store.decide("loans/2", "approve", who=SignedIn("bo", forgotten=True),
                                  reason="checked")  # a login this process no longer holds
    assert restarted == data_store.Outcome(
        False, "sign in again: the dashboard restarted and holds no login for bo")
    assert not data_store.roll_back("loans", "1", who=SignedIn("bo", forgotten=True),
                                    reason="back").ok
    assert wb.champion("loans") == "1" and [e["seq"] for e in wb.pending("loans")] == [2]
    done = data_store.decide("loans/2", "approve", who=SignedIn("bo", "pa55"),
                             reason="checked")
    assert done == data_store.Outcome(True, "approved loans/2: loans v2 is the champion")
    again = data_store.decide("loans/2", "decline", who=SignedIn("cy"), reason="late")
    assert not again.ok and "already decided" in again.message
    decided = wb.history("loans")[-1]
    # the embedded store: the dashboard's login is the name, and no server verified it
    assert (decided["approver"], decided["authenticated"]) == ("bo", None)
    assert data_store.summary("loans")["rollback_to"] == "1"


def start_dashboard(home: Path, tmp_path: Path, cwd: Path | None = None,
                    env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`workbench dashboard` for ana and bo, run from `cwd` (its project); waits until up."""
    env = {**service_env(), "WORKBENCH_HOME": str(home),
           "WORKBENCH_DASHBOARD_USERS": "ana:s3cret,bo:pa55", **(env or {})}
    return launch_dashboard(env, tmp_path, cwd=cwd)


def launch_dashboard(env: dict[str, str], tmp_path: Path, *args: str,
                     cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`workbench dashboard` with `env` (and `args`), run from `cwd`; waits until it answers."""
    port = free_port()
    log = tmp_path / f"dashboard-{port}.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("workbench")), "dashboard", "--port", str(port),
             *args], cwd=cwd or tmp_path, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert server.poll() is None, log.read_text()
        try:
            status_without_login(f"{base}/promotion")
            return True
        except OSError:
            return False

    wait_for(up, timeout=120)
    return server, base


def _as(browser: Any, base: str, user: str, password: str) -> Any:
    """A page of a new browser context logged in as `user`, on /promotion."""
    page = logged_in(browser, base, user, password)
    page.goto(f"{base}/promotion")
    page.locator("p", has_text="Champion:").first.wait_for()
    return page


def logged_in(browser: Any, base: str, user: str, password: str) -> Any:
    """A page of a new browser context logged in as `user`; the login page loads nothing
    from elsewhere and shows its logo (offline)."""
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{base}/login")
    assert page.locator("svg#logo").is_visible()
    assert asked and all(url.startswith(base) for url in asked), asked
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def _banner(page: Any, text: str) -> str:
    found = page.locator("div.alert", has_text=text).first
    try:
        found.wait_for(timeout=60_000)
    except Exception:
        shown = page.locator("div.alert").all_inner_texts()
        raise AssertionError(f"no banner {text!r}; the page says {shown}") from None
    return str(found.inner_text())


def _card(page: Any, request_id: str) -> Any:
    return page.locator("div.bk-panel-models-layout-Column", has=page.get_by_text(
        request_id, exact=True)).last


@pytest.mark.timeout(420)
def test_two_people_approve_decline_and_roll_back_in_the_browser(
        tracking: MlflowClient, wb_home: Path, tmp_path: Path) -> None:
    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    tracking.set_registered_model_tag("credit", FOUR_EYES_TAG, "true")  # rollbacks too
    wb.promote("credit", run_id=trained(0.9), approver="ana", reason="v2 beats v1")  # credit/2
    wb.promote("credit", run_id=trained(0.8), approver="ana", reason="v3, just in case")  # /3
    server, base = start_dashboard(wb_home, tmp_path)
    try:
        with browser_page() as first:
            browser = first.context.browser
            ana = _as(browser, base, "ana", "s3cret")
            ana.goto(f"{base}/")  # the index: the apps, where they read from, who is in
            ana.get_by_text("Signed in as ana").wait_for()
            ana.locator("code", has_text=str(wb_home / "mlflow.db")).wait_for()  # shadow DOM
            ana.locator("code", has_text="local Dask cluster").wait_for()
            ana.get_by_role("link", name="Promotion").click()
            ana.locator("p", has_text="Champion:").first.wait_for()
            ana.get_by_text("credit/2", exact=True).first.wait_for()
            ana.locator("textarea:visible").first.fill("my own request")
            ana.get_by_role("button", name="Approve").first.click()
            assert _banner(ana, "four-eyes").startswith("four-eyes policy")
            assert wb.champion("credit") == "1"  # refused: nothing moved

            bo = _as(browser, base, "bo", "pa55")
            bo.get_by_text("Signed in as bo").wait_for()
            bo.get_by_text("credit/3", exact=True).first.wait_for()
            bo.get_by_role("button", name="Decline").last.click()  # no reason yet
            _banner(bo, "write a reason first")
            bo.locator("textarea:visible").last.fill(f"not needed {MARKUP}")
            bo.get_by_role("button", name="Decline").last.click()
            _banner(bo, "declined credit/3")
            bo.locator("textarea:visible").first.fill("checked the gates")
            bo.get_by_role("button", name="Approve").first.click()
            _banner(bo, "approved credit/2: credit v2 is the champion")
            assert wb.champion("credit") == "2"

            bo.get_by_role("button", name="Roll back to v1").click()
            bo.get_by_text("Move the champion of credit from v2 back to v1?").wait_for()
            assert wb.champion("credit") == "2"  # asking moves nothing
            bo.locator("textarea:visible").first.fill("v2 misbehaves in production")
            bo.get_by_role("button", name="Confirm rollback").click()
            said = _banner(bo, "rollback to v1 requested")
            request = said.split(" as ")[1].split(":")[0]
            ana.get_by_role("button", name="Refresh").click()
            ana.get_by_text(request, exact=True).first.wait_for()
            ana.locator("textarea:visible").first.fill("agreed, roll back")
            ana.get_by_role("button", name="Approve").first.click()
            _banner(ana, f"approved {request}: credit v1 is the champion")
            ana.screenshot(path=str(tmp_path / "promotion-decided.png"), full_page=True)
            assert ana.evaluate("window.__pwned") is None
        assert wb.champion("credit") == "1"
        decisions = [(e["action"], e.get("approver"), e.get("authenticated"))
                     for e in wb.history("credit") if e.get("request")]
        assert decisions == [("declined", "bo", None), ("promoted", "bo", None),
                             ("rollback", "ana", None)], decisions  # embedded: unverified
        assert wb.verify_history("credit").ok
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
