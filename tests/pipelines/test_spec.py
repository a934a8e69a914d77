"""Pipeline specs: made from a pilot notebook, hand-editable, refused with the line at fault."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import workbench
from workbench.errors import ConfigError
from workbench.pipelines.from_notebook import create
from workbench.pipelines.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", tmp_path / "pilot.ipynb")
    shutil.copy(ROOT / "notebooks" / "drift_marimo.py", tmp_path / "check.py")
    return tmp_path


def test_create_from_the_parameters_cell(project: Path) -> None:
    path = create("pilot.ipynb", "churn", model="churn", root=project)
    assert path == project / "pipelines" / "churn.yaml"
    spec = load_spec(path)
    assert {n: (p.type, p.default) for n, p in spec.params.items()} == {
        "rows": ("int", 4000), "epochs": ("int", 3), "experiment": ("str", "quickstart")}
    assert [(s.name, s.notebook) for s in spec.steps] == [("pilot", "pilot.ipynb")]
    assert spec.model == "churn"
    with pytest.raises(ConfigError, match="exists; edit it, pick another --name, or pass --force"):
        create("pilot.ipynb", "churn", root=project)
    create("pilot.ipynb", "churn", root=project, force=True)


def test_create_from_a_marimo_setup_block(project: Path) -> None:
    spec = load_spec(create("check.py", "drift-check", root=project))
    assert {n: p.type for n, p in spec.params.items()} == {"ROWS": "int",
                                                          "COVARIATE_DRIFT": "float"}


def _notebook(path: Path, source: str, tags: list[str]) -> Path:
    cell = {"cell_type": "code", "metadata": {"tags": tags}, "source": source, "outputs": [],
            "execution_count": None}
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_notebook_without_parameters_cell_says_how_to_tag_one(project: Path) -> None:
    _notebook(project / "plain.ipynb", "rows = 10", tags=[])
    with pytest.raises(ConfigError, match=r"no cell tagged 'parameters'.*property inspector"):
        create("plain.ipynb", "p", root=project)
    assert not (project / "pipelines").exists()  # nothing half-written


def test_parameters_must_be_literals(project: Path) -> None:
    _notebook(project / "odd.ipynb", "import os\nrows = int(os.environ['N'])", ["parameters"])
    with pytest.raises(ConfigError, match=r"parameter rows .* is not a literal"):
        create("odd.ipynb", "p", root=project)


def test_notebooks_outside_the_project_are_refused(project: Path, tmp_path_factory:
                                                   pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.ipynb"
    shutil.copy(project / "pilot.ipynb", elsewhere)
    with pytest.raises(ConfigError, match="outside the project"):
        create(elsewhere, "p", root=project)


SPEC = """\
name: diamond
params:
  rows: {type: int, default: 100}
steps:
- name: prepare
  notebook: prepare.ipynb
- name: left
  notebook: left.ipynb
  depends_on: [prepare]
- name: right
  function: mypkg.steps:right
  depends_on: [prepare]
- name: report
  notebook: report.ipynb
  depends_on: [left, right]
"""


@pytest.mark.parametrize(("edit", "message"), [
    (("rows: {type: int", "class: {type: int"), r":3: params.class: parameter name 'class' is not"),
    (("rows: {type: int", "my-rows: {type: int"), r":3: params.my-rows: parameter name 'my-rows'"),
    (("depends_on: [prepare]\n- name: right", "depends_on: [report]\n- name: right"),
     r"steps form a cycle: .*left"),
    (("depends_on: [left, right]", "depends_on: [left, middle]"),
     r"step 'report' depends on missing step\(s\) middle"),
    (("  function: mypkg.steps:right", "  function: mypkg.steps.right"),
     r":10: steps.2: step 'right': function must be 'module:function'"),
    (("default: 100", "default: lots"), r":3: params.rows: default 'lots' is not of type int"),
    (("- name: report", "- name: report\n  colour: red"), r"steps.3.colour: Extra inputs"),
])
def test_hand_edits_are_checked_with_the_line(tmp_path: Path, edit: tuple[str, str],
                                              message: str) -> None:
    path = tmp_path / "diamond.yaml"
    path.write_text(SPEC.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_spec(path)


def test_dag_order_and_parameters(tmp_path: Path) -> None:
    path = tmp_path / "diamond.yaml"
    path.write_text(SPEC)
    spec = load_spec(path)
    assert spec.order() == [["prepare"], ["left", "right"], ["report"]]
    assert spec.resolve_params({"rows": 5}) == {"rows": 5}
    with pytest.raises(ConfigError, match=r"has no parameter.*colour; its parameters: rows"):
        spec.resolve_params({"colour": "red"})
    with pytest.raises(ConfigError, match="parameter rows of pipeline diamond must be int"):
        spec.resolve_params({"rows": "many"})


def test_cli_create_writes_the_spec(project: Path) -> None:
    done = workbench("pipeline", "create", "--from", str(project / "pilot.ipynb"), "--name",
                     "churn", "--json", home=project / "wb", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["spec"]["params"]["rows"]["default"] == 4000
    again = workbench("pipeline", "create", "--from", "pilot.ipynb", "--name", "churn",
                      home=project / "wb", cwd=project)
    assert again.returncode == 1 and again.stderr.startswith("error: ")


def test_create_a_chain_from_several_notebooks(project: Path) -> None:
    shutil.copy(ROOT / "notebooks" / "pilot.ipynb", project / "train.ipynb")
    (project / "eval").mkdir()
    shutil.copy(project / "pilot.ipynb", project / "eval" / "pilot.ipynb")
    done = workbench("pipeline", "create", "--from", "train.ipynb", "--from", "pilot.ipynb",
                     "--from", "eval/pilot.ipynb", "--name", "chain", home=project / "wb",
                     cwd=project)
    assert done.returncode == 0, done.stderr
    assert "steps train -> pilot -> pilot-2" in done.stdout
    spec = load_spec(project / "pipelines" / "chain.yaml")
    assert [(s.name, s.notebook, s.depends_on) for s in spec.steps] == [
        ("train", "train.ipynb", []), ("pilot", "pilot.ipynb", ["train"]),
        ("pilot-2", "eval/pilot.ipynb", ["pilot"])]
    # the union of what they declare; `rows` and `epochs` are in both, with one type
    assert list(spec.params) == ["rows", "epochs", "seed", "train_data", "drift_data",
                                 "drift_share", "experiment"]
    (project / "clash.ipynb").write_text((project / "pilot.ipynb").read_text().replace(
        "rows = 4000", "rows = 'many'"))
    with pytest.raises(ConfigError, match=r"parameter rows is int in train.ipynb but str in "
                                          r"clash.ipynb; give it one type"):
        create(["train.ipynb", "clash.ipynb"], "clash", root=project)
    assert not (project / "pipelines" / "clash.yaml").exists()


GATES = """\
name: bike
model: bike
target: count
steps:
- name: train
  function: steps:train
gates:
- beat_champion: val_rmse by 2
- beat_champion: {metric: val_auc, by: 0.01, data: data/holdout.parquet, target: churned}
- beat_champion: val_loss
  mode: min
drift:
  columns: [temp, humidity]
  exclude: [instant]
"""


def test_beat_champion_long_form_and_drift_columns(tmp_path: Path) -> None:
    path = tmp_path / "bike.yaml"
    path.write_text(GATES)
    spec = load_spec(path)
    beats = [gate.beat() for gate in spec.gates]
    assert [(b.metric, b.by, b.mode, b.data, b.target) for b in beats if b] == [
        ("val_rmse", 2.0, "min", None, None),  # rmse: lower is better, without saying so
        ("val_auc", 0.01, "max", "data/holdout.parquet", "churned"),
        ("val_loss", 0.0, "min", None, None)]
    assert spec.target == "count"
    assert spec.drift is not None and (spec.drift.columns, spec.drift.exclude) == (
        ["temp", "humidity"], ["instant"])
    assert load_spec(path).model_dump() == spec.model_dump()  # a plain, re-readable model


@pytest.mark.parametrize(("edit", "message"), [
    (("- beat_champion: val_rmse by 2", "- beat_champion: val_rmse by 2\n  mode: max"),
     r"bike.yaml:8: gates.0: mode: max for val_rmse, where lower is better; drop mode:"),
    (("by: 0.01, data", "margin: 0.01, data"),
     r"bike.yaml:9: gates.1.beat_champion: margin: unknown key; beat_champion takes metric, "
     r"by, data, target, mode"),
    (("{metric: val_auc, by", "{metric: val_auc by 2, by"),
     r"gates.1.beat_champion: metric: beat_champion metric 'val_auc by 2' is not a metric name"),
    (("  exclude: [instant]", "  exclude: instant"),
     r"bike.yaml:14: drift.exclude: Input should be a valid list"),
])
def test_bad_gates_and_drift_columns_name_their_line(tmp_path: Path, edit: tuple[str, str],
                                                     message: str) -> None:
    path = tmp_path / "bike.yaml"
    path.write_text(GATES.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_spec(path)


MONITOR = ("name: flights\nmodel: flights\ntarget: delayed\n"
           "steps:\n- {name: retrain, function: 'steps:retrain'}\n"
           "monitor:\n  features: 'features:featurize'\n"
           "  performance: {metric: auc, min: 0.65}\n")


@pytest.mark.parametrize(("edit", "message"), [
    (("metric: auc,", "metric: loss,"),
     r"flights.yaml:8: monitor.performance.metric: metric 'loss' is none of rmse, mse, mae"),
    ((", min: 0.65", ""), r"monitor.performance: give min:, max: or max_drop:"),
    (("'features:featurize'", "featurize"),
     r"monitor.features: features 'featurize' is not 'module:function'"),
    (("  performance:", "  retrain_from: latest\n  performance:"),
     r"monitor.retrain_from: Input should be 'champion' or 'defaults'"),
])
def test_a_bad_monitor_section_names_its_line(tmp_path: Path, edit: tuple[str, str],
                                              message: str) -> None:
    path = tmp_path / "flights.yaml"
    path.write_text(MONITOR)
    spec = load_spec(path)
    assert spec.monitor is not None and spec.monitor.performance is not None
    assert (spec.monitor.features, spec.monitor.performance.min) == ("features:featurize", 0.65)
    path.write_text(MONITOR.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_spec(path)
