"""`wb.apps.*` in a notebook: each dashboard displays in a real kernel (papermill), renders in
Chromium from the executed notebook, and a value holding "</script>" stays text (Bokeh embeds
the document in a script without escaping it: bokeh#14489)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.browser import browser_page
from tests.notebooks.test_quickstart import ISOLATE, _python3_kernelspec
from tests.promotion.test_promote import trained

BREAKOUT = '</script><img src=x onerror="window.__pwned=1">'
CELLS = ["import workbench as wb", "wb.apps.index()", "wb.apps.cockpit()", "wb.apps.runs()",
         "wb.apps.promotion('loans')", "wb.apps.drift()"]


@pytest.mark.timeout(360)
def test_every_app_displays_inline_and_markup_stays_text(
        tracking: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    papermill = pytest.importorskip("papermill")
    wb.promote("loans", run_id=trained(0.8), approver="ana", reason=f"pilot {BREAKOUT}")
    source = tmp_path / "apps.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, source)
    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(_python3_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    executed = tmp_path / "apps.out.ipynb"
    papermill.execute_notebook(str(source), str(executed), kernel_name="python3",
                               cwd=str(tmp_path), progress_bar=False, start_timeout=120,
                               execution_timeout=240)
    done = nbformat.read(executed, as_version=4)
    shown = {cell.source: [o for o in cell.outputs if o.output_type == "display_data"
                           or o.output_type == "execute_result"] for cell in done.cells}
    errors = [o for c in done.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    for cell in CELLS[1:]:
        htmls = [o["data"]["text/html"] for o in shown[cell] if "text/html" in o["data"]]
        assert htmls, f"{cell} displayed no HTML"
        assert all("</script><img" not in h for h in htmls), cell
    [promotion] = [o["data"]["text/html"] for o in shown["wb.apps.promotion('loans')"]
                   if "text/html" in o["data"]]
    assert "\\u003c/script>\\u003cimg" in promotion  # the reason, script-safe
    page_file = tmp_path / "apps.out.html"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                    "--output", page_file.name, str(executed)], check=True,
                   capture_output=True, timeout=120)
    with browser_page() as page:
        page.goto(page_file.as_uri())
        page.get_by_text("wb.apps.runs()").first.wait_for()  # the index, inline
        page.get_by_role("link", name="loans").first.wait_for()  # the cockpit's model row
        page.get_by_text("Champion:").first.wait_for()  # the promotion app, drawn by Bokeh
        page.locator(".tabulator-cell", has_text="pilot </script>").first.wait_for()
        assert page.evaluate("window.__pwned") is None


def test_marimo_shows_the_same_app_with_markup_as_text(tracking: MlflowClient) -> None:
    """marimo renders the Panel object itself (its panel formatter): the reason is data in an
    escaped attribute, never markup."""
    from_panel = pytest.importorskip("marimo._plugins.ui._impl.from_panel").panel
    wb.promote("loans", run_id=trained(0.8), approver="ana", reason=f"pilot {BREAKOUT}")
    app = wb.apps.promotion("loans")
    mime, text = from_panel(app._display_())._mime_()
    assert mime == "text/html" and "pwned" in text  # the reason is in it...
    assert "<img" not in text and "</script><" not in text  # ...as text
    assert repr(app) == "<workbench app promotion: display it in a notebook cell>"
    with pytest.raises(wb.ConfigError, match="no model 'nope' here; pick one of 'loans'"):
        wb.apps.drift("nope")
