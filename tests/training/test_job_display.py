"""What a Job shows as a cell's value outside Jupyter's live output: its real state.

(The live Jupyter output is tested in a real kernel: tests/notebooks/test_job_display.py.)
"""

from __future__ import annotations

import pytest

import workbench as wb
from tests.helpers import slow_counter, wait_for


@pytest.mark.timeout(300)
def test_marimo_display_is_the_jobs_state_and_says_how_to_follow_it(tracking) -> None:
    pytest.importorskip("marimo")
    job = wb.train(slow_counter, params={"epochs": 3, "delay": 0.5}, experiment="display",
                   progress=False)
    wait_for(lambda: job.status() == "RUNNING", timeout=120)
    running = job._display_().text
    assert "<b>RUNNING</b>" in running and "job.result()</code> follows it live" in running
    job.result(timeout=240)
    finished = job._display_().text
    assert "<b>FINISHED</b>" in finished and "step 3/3" in finished
    assert "follows it live" not in finished
    assert "FINISHED" in repr(job) and "step 3/3" in job._repr_html_()
