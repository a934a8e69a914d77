"""A Job in a notebook shows one live output that ends in its final state, also in a notebook
executed with no frontend (papermill, as pipeline steps run): FINISHED with the real step
count, not the first frame of a progress widget ("0step") under a repr stuck at PENDING."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.notebooks.test_quickstart import ISOLATE, _leftovers, _python3_kernelspec

EPOCHS = 3
CELLS = [
    "import workbench as wb\n"
    "frame = wb.demo.make_dataset(800, seed=0)\n"
    f"job = wb.train('workbench.demo.classifier:train', params={{'epochs': {EPOCHS}}}, "
    "data=frame, experiment='display')\n"
    "job",  # shown where it started: the progress display is the job's output
    "result = job.result()\nsorted(result.metrics)",
    "job",  # shown again later: a second view of the same output
]


def _job_outputs(cell: Any) -> list[dict[str, Any]]:
    return [o for o in cell.outputs if "<b>Job</b>" in o.get("data", {}).get("text/html", "")]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_executed_notebook_keeps_the_jobs_final_state(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    papermill = pytest.importorskip("papermill")
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    source, executed = tmp_path / "job.ipynb", tmp_path / "job.out.ipynb"
    nbformat.write(nb, source)
    home = tmp_path / "wb"
    for name in ISOLATE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("JUPYTER_PATH", str(_python3_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        papermill.execute_notebook(str(source), str(executed), kernel_name="python3",
                                   cwd=str(tmp_path), progress_bar=False, start_timeout=120,
                                   execution_timeout=480)
    finally:
        assert _leftovers(home) == []
    done = nbformat.read(executed, as_version=4)
    started, waited, again = done.cells
    (shown,) = _job_outputs(started)  # one output: `job` on the last line adds no second
    (later,) = _job_outputs(again)
    for output in (shown, later):
        text, plain = output["data"]["text/html"], output["data"]["text/plain"]
        assert "<b>FINISHED</b>" in text and f"step {EPOCHS}/{EPOCHS}" in text, text
        assert f'<progress value="{EPOCHS}" max="{EPOCHS}">' in text
        assert "FINISHED" in plain and f"step {EPOCHS}/{EPOCHS}" in plain
    assert not _job_outputs(waited)
    saved = executed.read_text(encoding="utf-8")
    assert "PENDING" not in saved and "0step" not in saved
    assert "application/vnd.jupyter.widget-view+json" not in saved
