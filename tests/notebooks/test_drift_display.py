"""Evidently's report shown inline really renders: in Jupyter output and in a marimo app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.timeout(300)
def test_jupyter_output_renders_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    papermill = pytest.importorskip("papermill")
    import nbformat
    from nbconvert import HTMLExporter

    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "wb"))
    monkeypatch.setenv("JUPYTER_PATH", str(_python3_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    executed = tmp_path / "drift.out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(executed), kernel_name="python3",
                               cwd=str(ROOT), parameters={"rows": 2000}, progress_bar=False,
                               start_timeout=120, execution_timeout=240)
    nb = nbformat.read(executed, as_version=4)
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if "text/html" in o.get("data", {}) and "srcdoc" in o["data"]["text/html"]]
    assert len(shown) == 1 and shown[0]["data"]["text/html"].startswith("<iframe srcdoc=")
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
