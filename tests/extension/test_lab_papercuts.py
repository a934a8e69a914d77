"""The Lab papercuts of issue 25, each as a person met it, in a real `jupyter lab` and headless
Chromium (the fixture of test_lab_browser):

- pending approvals come first in the sidebar, above the experiments, runs and models;
- the approve dialog shows the gate results recorded with the request;
- a Promote click while the gates are checked is never a silent no-op: the button is disabled
  and says "Checking the gates…", and Enter in a field says to wait for the gate check.

Model names and reasons hold markup that must show as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser_page
from tests.extension.conftest import notebook
from tests.extension.test_lab_browser import dialog_button, lab, open_sidebar
from tests.promotion.runs import model_run

__all__ = ["lab"]  # the fixture, imported for the tests below

MARKUP_MODEL = "<img src=x onerror=window.__xss=4>"
MARKUP_REASON = "<script>window.__xss=5</script> beats the baseline"
CHECKING = "Checking the gates…"


def seed(root: Path) -> Any:
    """A pilot notebook with a run of it, and a four-eyes request for a model whose name holds
    markup, its gate (val_auc>=0.75) checked and recorded with the request."""
    import workbench as wb
    from workbench.tracking.store import tracking_client

    notebook(root / "pilot.ipynb", "rows = 10")
    run_id = model_run(0.83)
    tracking_client().set_tag(run_id, "workbench.notebook", str(root / "pilot.ipynb"))
    return wb.promote(MARKUP_MODEL, run_id=run_id, approver="alice", reason=MARKUP_REASON,
                         require=["val_auc>=0.75"], four_eyes=True)


def before(page: Any, first: str, second: str) -> bool:
    """Whether the element `first` (a selector) comes before `second` in the document."""
    return bool(page.evaluate(
        "([a, b]) => !!(document.querySelector(a).compareDocumentPosition("
        "document.querySelector(b)) & Node.DOCUMENT_POSITION_FOLLOWING)", [first, second]))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pending_approvals_first_with_their_gates(lab: tuple[int, Path]) -> None:
    port, root = lab
    request = seed(root)
    request_id = request.request_id
    [recorded] = request.gates  # the one gate, as the request recorded it
    assert recorded.passed and recorded.detail
    with browser_page() as page:
        page.goto(f"http://127.0.0.1:{port}/lab/tree/pilot.ipynb?token=alice-token")
        sidebar = open_sidebar(page)
        pending = sidebar.locator(".wb-approvals .wb-pending")
        pending.first.wait_for()

        # first: above the experiments, the runs and the models, under its own heading
        headings = sidebar.locator("h2").all_text_contents()  # as written (CSS shows capitals)
        assert headings[:3] == ["Pending approvals", "Experiments", "Runs"], headings
        for later in (".wb-experiment-filter", ".wb-runs", ".wb-models"):
            assert before(page, "#workbench-sidebar .wb-approvals", f"#workbench-sidebar {later}")
        assert pending.count() == 1
        assert pending.first.get_attribute("data-request-id") == request_id
        text = pending.first.inner_text()
        assert MARKUP_MODEL in text and MARKUP_REASON in text, text  # markup as text
        assert sidebar.locator(".wb-models .wb-pending").count() == 0  # listed once
        model = sidebar.locator(".wb-model").filter(has_text=MARKUP_MODEL)
        assert "1 pending approval" in model.inner_text()

        # the approve dialog: the gate results recorded with the request
        pending.first.get_by_role("button", name=f"Approve {request_id}").click()
        dialog = page.locator(".jp-Dialog")
        gate = dialog.locator(".wb-gates .wb-gate")
        gate.first.wait_for()
        assert gate.count() == 1
        assert gate.first.get_attribute("data-gate") == recorded.gate == "metric val_auc>=0.75"
        assert "wb-mod-passed" in (gate.first.get_attribute("class") or "")
        assert gate.first.inner_text() == f"✓ {recorded.gate}: {recorded.detail}"
        assert MARKUP_MODEL in dialog.locator(".jp-Dialog-header").inner_text()
        assert dialog.locator("img, script").count() == 0
        dialog_button(page, "Cancel").click()
        dialog.wait_for(state="detached")
        assert page.evaluate("window.__xss") is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_promote_waits_for_the_gate_check_and_says_so(lab: tuple[int, Path]) -> None:
    port, root = lab
    seed(root)
    with browser_page() as page:
        held: list[Any] = []  # gate previews kept waiting until the test lets them answer

        def hold_previews(route: Any) -> None:
            body = json.loads(route.request.post_data or "{}")
            if body.get("preview"):
                held.append(route)
            else:
                route.continue_()

        def wait_held(count: int) -> None:
            for _ in range(600):
                if len(held) >= count:
                    return
                page.wait_for_timeout(100)
            raise AssertionError(f"{count} previews expected, {len(held)} sent")

        # (its URL carries a cache-busting query)
        page.route(lambda url: "/workbench/api/promotions" in url, hold_previews)
        page.goto(f"http://127.0.0.1:{port}/lab/tree/pilot.ipynb?token=alice-token")
        open_sidebar(page)
        page.get_by_role("tabpanel", name="pilot.ipynb").get_by_text("Promote").click()
        form = page.locator(".jp-Dialog .wb-promote-form")
        form.wait_for()
        wait_held(1)

        # while the gates are checked: Promote is disabled and says so, typing changes nothing
        accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        assert accept.inner_text() == CHECKING
        assert accept.is_disabled()
        assert form.locator(".wb-gates").inner_text() == CHECKING
        form.locator("textarea[name=reason]").fill("ready")
        assert accept.is_disabled()
        accept.click(force=True)  # a click on it: the dialog stays, still checking
        page.wait_for_timeout(300)
        assert form.is_visible() and accept.is_disabled()

        # Enter in a field accepts the dialog anyway: it comes back and says to wait
        form.locator("input[name=model]").press("Enter")
        error = page.locator(".jp-Dialog .wb-field-error[role=alert]")
        error.wait_for()
        assert error.inner_text() == "Wait for the gate check to finish, then Promote."
        assert page.locator(".jp-Dialog textarea[name=reason]").input_value() == "ready"
        wait_held(2)  # the dialog shown again checks again
        assert accept.is_disabled()

        # the check answers: the gates are shown and Promote is enabled again
        for route in held:
            route.continue_()
        page.locator(".jp-Dialog .wb-preview", has_text="approver alice").wait_for()
        page.wait_for_function(
            "() => { const b = document.querySelector('.jp-Dialog .jp-mod-accept');"
            " return b && !b.disabled && b.textContent.trim() === 'Promote'; }")
        assert dialog_button(page, "Promote").is_enabled()
        dialog_button(page, "Cancel").click()
        page.locator(".jp-Dialog").wait_for(state="detached")
        assert page.evaluate("window.__xss") is None
