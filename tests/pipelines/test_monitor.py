"""Drift-triggered retraining: repeated drift starts exactly one retraining per cooldown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench
from workbench.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    wb.demo.make_dataset(3_000, seed=0).to_parquet(root / "train.parquet")
    wb.demo.make_dataset(3_000, seed=1).to_parquet(root / "calm.parquet")
    wb.demo.make_dataset(3_000, seed=2, covariate_drift=0.8).to_parquet(root / "moved.parquet")
    (root / "steps.py").write_text(
        "import pathlib\n"
        "def retrain(drift_data, drift_share):\n"
        "    with open('retrained.txt', 'a') as out:\n"
        "        out.write(f'{pathlib.Path(drift_data).name} {drift_share:.2f}\\n')\n"
        "    return {'drift_share_seen': drift_share}\n")
    (root / "pipelines" / "retrain.yaml").write_text(
        "name: retrain\nmodel: churn\n"
        "params:\n  drift_data: {type: str, default: ''}\n"
        "  drift_share: {type: float, default: 0.0}\n"
        "steps:\n- name: retrain\n  function: steps:retrain\n"
        "drift:\n  reference: train.parquet\n  threshold: 0.3\n  cooldown_hours: 24\n")
    return root


def test_repeated_drift_triggers_exactly_one_retraining(tracking: MlflowClient,
                                                         project: Path) -> None:
    calm = wb.monitor("churn", project / "calm.parquet", root=project)
    assert not calm.triggered and "below the threshold" in calm.reason
    outcomes = [wb.monitor("churn", project / "moved.parquet", root=project) for _ in range(3)]
    assert [o.triggered for o in outcomes] == [True, False, False]
    assert outcomes[0].pipeline_status == "FINISHED" and outcomes[0].share >= 0.3
    assert "cooldown" in outcomes[1].reason
    # this retraining step logs no model run, so there is nothing to propose for promotion
    assert outcomes[0].promotion == {"action": "none", "detail": (
        "the pipeline run logged no model in a run of its own (train with wb.train, or tag "
        "the run workbench.pipeline_run)")}
    lines = (project / "retrained.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moved.parquet ")
    history = wb.drift_history("churn")
    assert list(history["drifted"]) == [calm.drifted, True, True, True]
    check = tracking.get_run(outcomes[0].check_run_id)
    assert check.data.tags["workbench.triggered_run"] == outcomes[0].pipeline_run_id


def test_cli_monitor_and_a_model_no_pipeline_produces(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "wb"
    done = workbench("monitor", "churn", "--data", "moved.parquet", "--json", home=home,
                     cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["triggered"] is True
    again = workbench("monitor", "churn", "--data", "moved.parquet", home=home, cwd=project)
    assert again.returncode == 0 and "cooldown" in again.stdout
    with pytest.raises(ConfigError, match=r"no pipeline .* produces model 'other'"):
        wb.monitor("other", project / "moved.parquet", root=project)
