"""The quickstart notebooks run end to end, as a user runs them, and leave the runs they promise.

The Jupyter notebook runs under papermill in a real ipykernel; the marimo notebook runs as a plain
script. Each gets its own WORKBENCH_HOME, so its own SQLite store and its own LocalCluster, which
live in the kernel (or script) process and end with it.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
MARIMO = ROOT / "notebooks" / "quickstart_marimo.py"
ROWS, EPOCHS = 2000, 2
EXPERIMENT = "quickstart"
TRAIN_FUNCTION = "__main__:train_churn"
RUN_TIMEOUT_S = 480
ISOLATE = ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT",
           "WORKBENCH_NOTEBOOK", "JPY_SESSION_NAME")


# -- helpers ----------------------------------------------------------------------------------
def _tracking(home: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")


def _runs(home: Path, filter_string: str = "") -> list[Any]:
    client = _tracking(home)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"no experiment {EXPERIMENT!r} in {home}"
    return list(client.search_runs([experiment.experiment_id], filter_string=filter_string))


def _training_run(home: Path) -> Any:
    runs = _runs(home, f"tags.`workbench.function` = '{TRAIN_FUNCTION}'")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def _python3_kernelspec(root: Path) -> Path:
    """A `python3` kernelspec running this interpreter (the venv's), first on JUPYTER_PATH."""
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (workbench tests)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


def _processes_with_home(home: Path) -> list[Any]:
    """Live processes started with WORKBENCH_HOME=home: a kernel or dask worker left behind."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("WORKBENCH_HOME") == str(home):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _leftovers(home: Path, wait_s: float = 30.0) -> list[str]:
    """Wait for every process of this run to exit; kill and describe any that do not."""
    deadline = time.monotonic() + wait_s
    while (alive := _processes_with_home(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    described = []
    for proc in alive:
        try:
            described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except Exception:
            continue
    return described


# -- the Jupyter notebook ---------------------------------------------------------------------
def test_committed_notebook_has_parameters_and_no_outputs() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        "commit the notebook with outputs cleared"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged"
    assigned = {node.targets[0].id: ast.literal_eval(node.value)
                for node in ast.parse(first.source).body if isinstance(node, ast.Assign)}
    assert assigned == {"rows": 4000, "epochs": 3, "experiment": "quickstart"}
    assert nb.metadata.kernelspec.name == "python3"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the quickstart once with papermill in a real kernel; tests check what it left."""
    papermill = pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    import nbformat

    tmp = tmp_path_factory.mktemp("quickstart")
    home = tmp / "wb"
    output = tmp / "quickstart.out.ipynb"
    with pytest.MonkeyPatch.context() as mp:
        for name in ISOLATE:
            mp.delenv(name, raising=False)
        # The kernel inherits this environment. papermill sets no JPY_SESSION_NAME, so name the
        # notebook explicitly, as a pipeline run does.
        mp.setenv("WORKBENCH_HOME", str(home))
        mp.setenv("WORKBENCH_NOTEBOOK", str(NOTEBOOK))
        mp.setenv("JUPYTER_PATH", str(_python3_kernelspec(tmp / "jupyter")))
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        started = time.monotonic()
        try:
            papermill.execute_notebook(
                str(NOTEBOOK), str(output), kernel_name="python3", cwd=str(ROOT),
                parameters={"rows": ROWS, "epochs": EPOCHS, "experiment": EXPERIMENT},
                progress_bar=False, start_timeout=120, execution_timeout=RUN_TIMEOUT_S,
            )
        finally:
            seconds = time.monotonic() - started
            leftovers = _leftovers(home)
    yield {"home": home, "notebook": nbformat.read(output, as_version=4), "seconds": seconds,
           "leftovers": leftovers}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_notebook_runs_with_injected_parameters(executed: dict[str, Any]) -> None:
    nb = executed["notebook"]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and f"rows = {ROWS}" in injected[0].source
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    shown = [o.data["text/plain"] for o in last.outputs if o.output_type == "execute_result"]
    assert shown and "churn_probability" in shown[0], "the loaded model predicts on the example"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_clusters_first_lines_are_information_not_errors(executed: dict[str, Any]) -> None:
    """Jupyter paints stderr red: the cluster's start is news, not a failure."""
    streams = [o for c in executed["notebook"].cells if c.cell_type == "code"
               for o in c.outputs if o.output_type == "stream"]
    said = [o for o in streams if "workbench: starting a local dask cluster" in o.text]
    assert [o.name for o in said] == ["stdout"]
    red = [o.text for o in streams if o.name == "stderr"]
    assert not any("workbench:" in text for text in red), red


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kernel_and_its_cluster_exit_with_the_notebook(executed: dict[str, Any]) -> None:
    assert executed["leftovers"] == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_training_run_names_the_notebook(executed: dict[str, Any]) -> None:
    run = _training_run(executed["home"])
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["mlflow.source.name"] == str(NOTEBOOK)
    assert tags["workbench.notebook"] == str(NOTEBOOK)
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert run.data.params["epochs"] == str(EPOCHS)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_metric_history_has_one_step_per_epoch(executed: dict[str, Any]) -> None:
    run = _training_run(executed["home"])
    client = _tracking(executed["home"])
    for key in ("train_loss", "val_loss", "val_accuracy"):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(EPOCHS)), key
    assert 0.0 <= run.data.metrics["val_accuracy"] <= 1.0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_parent_has_two_nested_trials(executed: dict[str, Any]) -> None:
    home = executed["home"]
    parents = _runs(home, "tags.`workbench.kind` = 'sweep'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlflow.source.name"] == str(NOTEBOOK)
    children = _runs(home, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params["lr"] for c in children) == ["0.003", "0.03"]
    assert all(c.data.params["epochs"] == "2" for c in children)
    best = min(children, key=lambda c: c.data.metrics["val_loss"])
    assert parent.data.tags["workbench.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best.data.metrics["val_loss"])


# -- the marimo notebook ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_marimo_notebook_runs_as_a_script(tmp_path: Path) -> None:
    pytest.importorskip("marimo")
    home = tmp_path / "wb"
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    env["WORKBENCH_HOME"] = str(home)
    # Its own session, so a hung run can be killed whole: the script and its dask workers.
    proc = subprocess.Popen(
        [sys.executable, str(MARIMO), "--rows", str(ROWS), "--epochs", str(EPOCHS)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the marimo notebook ran past {RUN_TIMEOUT_S}s:\n{out[-4000:]}")
    leftovers = _leftovers(home)
    assert proc.returncode == 0, out[-4000:]
    assert leftovers == []
    run = _training_run(home)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.source.name"] == str(MARIMO)
    assert run.data.tags["mlflow.source.type"] == "LOCAL"
    steps = [m.step for m in _tracking(home).get_metric_history(run.info.run_id, "val_loss")]
    assert sorted(steps) == list(range(EPOCHS))
    sweep = _runs(home, "tags.`workbench.kind` = 'sweep'")
    assert [s.info.status for s in sweep] == ["FINISHED"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_training_cell_shows_the_jobs_final_progress(executed: dict[str, Any]) -> None:
    """In Jupyter the job's output in its cell follows it to the end: FINISHED, every epoch."""
    cells = [c for c in executed["notebook"].cells
             if c.cell_type == "code" and "wb.train(" in c.source]
    assert cells, "the quickstart calls wb.train"
    shown = [o["data"]["text/html"] for c in cells for o in c.outputs
             if "<b>Job</b>" in o.get("data", {}).get("text/html", "")]
    assert len(shown) == 1, "the job's output is shown once in its cell"
    assert "<b>FINISHED</b>" in shown[0] and f"step {EPOCHS}/{EPOCHS}" in shown[0]
