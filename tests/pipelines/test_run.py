"""Pipelines run on the real cluster: papermill steps, function steps, MLflow runs per step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench
from tests.helpers import on_cluster
from workbench.errors import ConfigError, PipelineFailed


def notebook(path: Path, parameters: str, *cells: str) -> Path:
    def cell(source: str, tags: list[str]) -> dict[str, Any]:
        return {"cell_type": "code", "metadata": {"tags": tags}, "source": source,
                "outputs": [], "execution_count": None}

    nb = {"cells": [cell(parameters, ["parameters"]), *(cell(c, []) for c in cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    notebook(root / "pilot.ipynb", "rows = 10\nlabel = 'a'  # which output file",
             "import json, pathlib\n"
             "pathlib.Path(f'out-{label}.json').write_text(json.dumps({'rows': rows}))\n"
             "print('wrote', rows)")
    notebook(root / "broken.ipynb", "fail = True",
             "x = 1", "if fail:\n    raise ValueError('boom in the third cell')", "y = 2")
    (root / "stepfns.py").write_text(
        "import json, pathlib, time\n"
        "def prepare(rows):\n    pathlib.Path('prepared.txt').write_text(str(rows))\n"
        "    return {'prepared_rows': rows}\n"
        "def right(rows):\n    time.sleep(0.5)\n    return {'right': rows * 2}\n"
        "def report():\n    return {'ready': float(pathlib.Path('prepared.txt').exists())}\n")
    return root


def _runs(tracking: MlflowClient, name: str) -> list[Any]:
    experiment = tracking.get_experiment_by_name(f"pipeline-{name}")
    return [] if experiment is None else tracking.search_runs([experiment.experiment_id])


def test_notebook_pipeline_runs_as_parent_and_step_runs(tracking: MlflowClient,
                                                         project: Path) -> None:
    wb.pipeline.create(project / "pilot.ipynb", name="pilot", root=project)
    events: list[tuple[str, str]] = []
    outcome = wb.pipeline.run("pilot", {"rows": 25, "label": "b"}, root=project,
                              on_event=lambda step, state, _: events.append((step, state)))
    assert outcome.status == "FINISHED"
    assert json.loads((project / "out-b.json").read_text()) == {"rows": 25}
    assert events == [("pilot", "queued"), ("pilot", "running"), ("pilot", "finished")]
    parent = tracking.get_run(outcome.run_id)
    assert parent.info.status == "FINISHED" and parent.data.params == {"rows": "25",
                                                                      "label": "b"}
    step = tracking.get_run(outcome.steps["pilot"].run_id)
    assert step.data.tags["mlflow.parentRunId"] == outcome.run_id
    assert step.info.status == "FINISHED" and step.data.metrics["step_seconds"] > 0
    executed = json.loads(mlflow.artifacts.load_text(
        f"runs:/{step.info.run_id}/notebook/pilot.ipynb"))
    injected = [c for c in executed["cells"]
                if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "rows = 25" in "".join(injected[0]["source"])


def test_failing_cell_is_named_and_the_partial_notebook_kept(tracking: MlflowClient,
                                                             project: Path) -> None:
    (project / "pipelines").mkdir()
    (project / "pipelines" / "mixed.yaml").write_text(
        "name: mixed\nsteps:\n- name: broken\n  notebook: broken.ipynb\n"
        "- name: after\n  function: stepfns:report\n  depends_on: [broken]\n")
    with pytest.raises(PipelineFailed, match=r"step broken failed in cell \[3\] \(if fail:\): "
                                             r"ValueError: boom in the third cell"):
        wb.pipeline.run("mixed", root=project)
    (parent,) = [r for r in _runs(tracking, "mixed") if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FAILED" and parent.data.tags["workbench.failed_step"] == "broken"
    steps = {r.data.tags["workbench.step"]: r for r in _runs(tracking, "mixed")
             if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert steps["broken"].info.status == "FAILED"
    assert steps["after"].info.status == "KILLED"
    assert "not run" in steps["after"].data.tags["workbench.skipped"]
    traceback = mlflow.artifacts.load_text(f"runs:/{steps['broken'].info.run_id}/error/"
                                           "traceback.txt")
    assert "ValueError" in traceback and "\x1b[" not in traceback
    partial = json.loads(mlflow.artifacts.load_text(
        f"runs:/{steps['broken'].info.run_id}/notebook/broken.ipynb"))
    outputs = [o for c in partial["cells"] for o in c.get("outputs", [])]
    assert any(o.get("ename") == "ValueError" for o in outputs)  # the failing cell's output


def test_diamond_of_function_steps_respects_dependencies(tracking: MlflowClient,
                                                         project: Path) -> None:
    (project / "pipelines").mkdir()
    (project / "pipelines" / "diamond.yaml").write_text(
        "name: diamond\nparams:\n  rows: {type: int, default: 3}\nsteps:\n"
        "- name: prepare\n  function: stepfns:prepare\n"
        "- name: left\n  notebook: pilot.ipynb\n  depends_on: [prepare]\n"
        "  params: {label: left}\n"
        "- name: right\n  function: stepfns:right\n  depends_on: [prepare]\n"
        "- name: report\n  function: stepfns:report\n  depends_on: [left, right]\n")
    outcome = wb.pipeline.run("diamond", {"rows": 7}, root=project)
    assert {s.status for s in outcome.steps.values()} == {"FINISHED"}
    assert json.loads((project / "out-left.json").read_text()) == {"rows": 7}
    report = tracking.get_run(outcome.steps["report"].run_id)
    assert report.data.metrics["ready"] == 1.0  # ran after prepare wrote its file
    assert tracking.get_run(outcome.steps["right"].run_id).data.metrics["right"] == 14


def test_bad_parameters_are_refused_before_anything_runs(tracking: MlflowClient,
                                                         project: Path) -> None:
    wb.pipeline.create(project / "pilot.ipynb", name="pilot", root=project)
    with pytest.raises(ConfigError, match=r"has no parameter\(s\) colour; its parameters: "
                                          r"rows, label"):
        wb.pipeline.run("pilot", {"colour": "red"}, root=project)
    with pytest.raises(ConfigError, match="parameter rows of pipeline pilot must be int"):
        wb.pipeline.run("pilot", {"rows": "many"}, root=project)
    with pytest.raises(ConfigError, match=r"no pipeline 'nope' .*\(pipelines: pilot\)"):
        wb.pipeline.run("nope", root=project)
    assert _runs(tracking, "pilot") == []  # nothing was created


def test_cli_run(project: Path, tmp_path: Path, dask_client: Any) -> None:
    home = tmp_path / "wb"
    assert workbench("pipeline", "create", "--from", "pilot.ipynb", "--name", "pilot",
                     home=home, cwd=project).returncode == 0
    done = workbench("pipeline", "run", "pilot", "-p", "rows=3", "--json", home=home,
                     cwd=project, env=on_cluster(dask_client))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "FINISHED" and out["params"] == {"rows": 3, "label": "a"}
    assert "ok  pilot" in done.stderr
    (project / "pipelines" / "broken.yaml").write_text(
        "name: broken\nsteps:\n- name: broken\n  notebook: broken.ipynb\n")
    # on a local cluster of its own: its workers' logs are this command's stderr
    failed = workbench("pipeline", "run", "broken", home=home, cwd=project)
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pipeline broken failed") and "ValueError" in last
    # the step's progress lines, then one error line: no worker errors or tracebacks first
    assert "Traceback" not in failed.stderr and " - ERROR - " not in failed.stderr
    assert [line for line in failed.stderr.splitlines() if line.startswith("error:")] == [last]
    assert "FAILED  broken  step broken failed in cell [3]" in failed.stderr


def test_notebooks_without_a_kernelspec_run_and_a_missing_kernel_is_named(
        tracking: MlflowClient, project: Path) -> None:
    import nbformat

    made = nbformat.v4.new_notebook()  # as nbformat and jupytext write them: no kernelspec
    made.cells = [nbformat.v4.new_code_cell("rows = 1", metadata={"tags": ["parameters"]}),
                  nbformat.v4.new_code_cell(
                      "import pathlib\npathlib.Path('plain.txt').write_text(str(rows))")]
    nbformat.write(made, project / "plain.ipynb")
    assert "kernelspec" not in json.loads((project / "plain.ipynb").read_text())["metadata"]
    wb.pipeline.create(project / "plain.ipynb", name="plain", root=project)
    assert wb.pipeline.run("plain", {"rows": 4}, root=project).status == "FINISHED"
    assert (project / "plain.txt").read_text() == "4"

    made.metadata["kernelspec"] = {"name": "julia-1.10", "display_name": "Julia 1.10",
                                   "language": "julia"}
    nbformat.write(made, project / "julia.ipynb")
    wb.pipeline.create(project / "julia.ipynb", name="julia", root=project)
    with pytest.raises(ConfigError, match=r"^step julia: julia.ipynb asks for Jupyter kernel "
                                          r"'julia-1.10', which is not installed here "
                                          r"\(installed: (.*, )?python3(, .*)?\); install it, "
                                          r"or pick one of those in the notebook's kernel menu$"):
        wb.pipeline.run("julia", root=project)
    assert _runs(tracking, "julia") == []  # refused before anything ran


def test_inputs_are_recorded_with_their_digest_and_passed_to_steps(tracking: MlflowClient,
                                                                   project: Path) -> None:
    notebook(project / "reads.ipynb", "train_data = ''",
             "import json, pandas as pd, pathlib\n"
             "pathlib.Path('seen.json').write_text(json.dumps("
             "[train_data, len(pd.read_parquet(train_data))]))")
    wb.demo.make_dataset(300, seed=0).to_parquet(project / "train.parquet")
    wb.demo.make_dataset(200, seed=1).to_parquet(project / "other.parquet")
    (project / "pipelines").mkdir()
    spec = project / "pipelines" / "reads.yaml"
    spec.write_text("name: reads\ninputs:\n  train_data: train.parquet\n"
                    "steps:\n- {name: read, notebook: reads.ipynb}\n")
    outcome = wb.pipeline.run("reads", root=project)
    assert json.loads((project / "seen.json").read_text()) == [
        str(project / "train.parquet"), 300]
    parent = tracking.get_run(outcome.run_id)
    [recorded] = parent.inputs.dataset_inputs
    step = tracking.get_run(outcome.steps["read"].run_id)
    assert step.data.tags["workbench.pipeline"] == "reads"
    assert recorded.dataset.name == "train.parquet" and len(recorded.dataset.digest) == 16
    assert recorded.tags[0].value == "pipeline-input:train_data"

    wb.pipeline.run("reads", {"train_data": "other.parquet"}, root=project)  # -p overrides
    assert json.loads((project / "seen.json").read_text())[1] == 200

    before = len(_runs(tracking, "reads"))
    with pytest.raises(ConfigError, match=r"input train_data of pipeline reads: data path "
                                          r".*missing.parquet does not exist"):
        wb.pipeline.run("reads", {"train_data": "missing.parquet"}, root=project)
    assert len(_runs(tracking, "reads")) == before  # refused before any run was created
    spec.write_text(spec.read_text().replace(
        "steps:", "params:\n  train_data: {type: str, default: x}\nsteps:"))
    with pytest.raises(ConfigError, match=r"reads.yaml:1: spec: train_data is both an input "
                                          r"and a parameter"):
        wb.pipeline.run("reads", root=project)


def test_notebook_steps_share_the_cluster_without_deadlock_or_overload(
        tracking: MlflowClient, project: Path) -> None:
    """Two notebooks calling wb.train side by side on 2 single-threaded workers finish (each
    step leaves the worker's pool, so the training tasks get threads), and a fan-out of three
    never runs more than two kernels at once."""
    notebook(project / "trains.ipynb", "label = 'a'",
             "import json, pathlib, time\nimport workbench as wb\nstart = time.time()\n"
             "result = wb.train('workbench.demo.classifier:train', params={'epochs': 1, "
             "'rows': 400}).result()\n"
             "pathlib.Path(f'span-{label}.json').write_text(json.dumps([start, time.time()]))")
    (project / "pipelines").mkdir()
    (project / "pipelines" / "fan.yaml").write_text(
        "name: fan\nsteps:\n" + "".join(
            f"- {{name: {s}, notebook: trains.ipynb, params: {{label: {s}}}}}\n"
            for s in ("x", "y", "z")))
    outcome = wb.pipeline.run("fan", root=project, timeout_s=240)
    assert {s.status for s in outcome.steps.values()} == {"FINISHED"}
    spans = [json.loads((project / f"span-{s}.json").read_text()) for s in ("x", "y", "z")]
    overlapping_all_three = max(s[0] for s in spans) < min(s[1] for s in spans)
    assert not overlapping_all_three
    trained = [r for r in tracking.search_runs(
        [e.experiment_id for e in tracking.search_experiments()])
        if r.data.tags.get("workbench.pipeline_run") == outcome.run_id]
    assert len(trained) == 3 and {r.info.status for r in trained} == {"FINISHED"}
