"""A drift result in a notebook: a small, escaped summary by default (the executed notebook stays
small enough to commit), and Evidently's report on request, which really renders in Jupyter
output and in a marimo app."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser_page, frame_with_text
from tests.notebooks.test_quickstart import ISOLATE, ROOT, _python3_kernelspec

NOTEBOOK = ROOT / "notebooks" / "drift.ipynb"
MARIMO = ROOT / "notebooks" / "drift_marimo.py"


def _assert_report_rendered(page: object) -> None:
    report = frame_with_text(page, "Share of Drifted Columns")
    text = report.inner_text("body")
    assert "Dataset Drift" in text and "Wasserstein distance (normed)" in text
    assert "Loading" not in text


SMALL_NOTEBOOK_BYTES = 200_000  # small enough to commit; the report inline was ~5 MB


def _execute(notebook: Path, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `notebook` under papermill in a real kernel; the executed notebook."""
    papermill = pytest.importorskip("papermill")
    import nbformat

    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "wb"))
    monkeypatch.setenv("JUPYTER_PATH", str(_python3_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    papermill.execute_notebook(str(notebook), str(out), kernel_name="python3",
                               cwd=str(ROOT), parameters={"rows": 2000}, progress_bar=False,
                               start_timeout=120, execution_timeout=240)
    return nbformat.read(out, as_version=4)


def _html_outputs(nb: Any) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if "text/html" in o.get("data", {})]


@pytest.mark.timeout(300)
def test_executed_drift_notebook_stays_small_and_shows_the_verdicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executed = tmp_path / "drift.out.ipynb"
    nb = _execute(NOTEBOOK, executed, tmp_path, monkeypatch)
    size = executed.stat().st_size
    assert size < SMALL_NOTEBOOK_BYTES, f"executed notebook is {size:,} bytes"
    (summary,) = [h for h in _html_outputs(nb) if "workbench-drift" in h]
    assert "srcdoc" not in summary
    for header in ("column", "type", "test", "score", "threshold", "drifted"):
        assert f"<th>{header}</th>" in summary
    assert "drift detected" in summary and "result.report()" in summary


def test_summary_is_small_and_escapes_every_value() -> None:
    import numpy as np
    import pandas as pd

    import workbench as wb

    attack = "<img src=x onerror=alert(1)>"
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({attack: rng.normal(size=400), "label": rng.choice(["a", "b"], 400)})
    result = wb.drift(frame, frame.assign(**{attack: frame[attack] + 2}), engine="evidently")
    shown = result._repr_html_()
    assert attack not in shown and html.escape(attack) in shown
    assert len(shown) < 5_000 and len(result.report()._repr_html_()) > 1_000_000
    cells = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>"
                       r"<td>(.*?)</td><td>(.*?)</td></tr>", shown)
    assert [(c[0], c[1], c[5]) for c in cells] == [
        (html.escape(name), d.column_type, "<b>yes</b>" if d.drifted else "no")
        for name, d in result.columns.items()]
    assert cells[0][2] == html.escape(result.columns[attack].method)
    assert f"share {result.share:.2f}" in shown


def test_report_is_saved_on_request(tmp_path: Path) -> None:
    import workbench as wb

    reference = wb.demo.make_dataset(500, seed=0)
    result = wb.drift(reference, wb.demo.make_dataset(500, seed=1, covariate_drift=0.5))
    path = result.report().save(tmp_path / "drift.html")
    assert path.read_text(encoding="utf-8") == result.to_html()


@pytest.mark.timeout(300)
def test_jupyter_output_renders_the_report_on_request(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("result.report()"))
    asked = tmp_path / "drift-report.ipynb"
    nbformat.write(nb, asked)
    nb = _execute(asked, tmp_path / "drift-report.out.ipynb", tmp_path, monkeypatch)
    shown = [h for h in _html_outputs(nb) if "srcdoc" in h]
    assert len(shown) == 1 and shown[0].startswith("<iframe srcdoc=")
    page_file = tmp_path / "drift.html"
    page_file.write_text(HTMLExporter().from_notebook_node(nb)[0], encoding="utf-8")
    with browser_page() as page:
        page.goto(page_file.as_uri())
        _assert_report_rendered(page)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(300)
def test_marimo_app_renders_the_report(tmp_path: Path) -> None:
    port, token = _free_port(), "drift-test-token"
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    env["WORKBENCH_HOME"] = str(tmp_path / "wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("marimo")), "run", str(MARIMO), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--token-password", token],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.5)
        with browser_page() as page:
            page.goto(f"http://127.0.0.1:{port}/?access_token={token}")
            _assert_report_rendered(page)
    finally:
        server.terminate()
        server.wait(timeout=30)
