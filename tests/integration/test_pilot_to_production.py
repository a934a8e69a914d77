"""The whole way from the repository's pilot notebook to a governed, monitored champion.

Real parts throughout: the CLI, papermill kernels that call `wb.train` on the cluster, the
MLflow store and registry, Evidently-rule drift checks; twice, with no code change: on the
embedded defaults and on `workbench services` (see the `lifecycle` fixture).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench as run_workbench
from tests.conftest import Lifecycle
from workbench.retraining import retrained_runs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "pilot.ipynb", root / "notebooks" / "pilot.ipynb")
    wb.demo.make_dataset(2_000, seed=1).to_parquet(root / "calm.parquet")
    wb.demo.make_dataset(3_000, seed=2, covariate_drift=0.8).to_parquet(root / "moved.parquet")
    return root


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pilot_notebook_to_monitored_champion(lifecycle: Lifecycle, wb_home: Path,
                                             project: Path) -> None:
    tracking: MlflowClient = lifecycle.tracking

    def workbench(*args: str, **kwargs: Any) -> Any:
        return run_workbench(*args, env=lifecycle.env, **kwargs)

    created = workbench("pipeline", "create", "--from", "notebooks/pilot.ipynb", "--name",
                        "churn", "--model", "churn", home=wb_home, cwd=project)
    assert created.returncode == 0, created.stderr
    spec = project / "pipelines" / "churn.yaml"
    spec.write_text(spec.read_text() + (
        "gates:\n- metric: val_auc >= 0.6\n- beat_champion: val_auc by -0.2\n"
        "- validation: true\n"
        "drift:\n  data: calm.parquet\n  threshold: 0.3\n  cooldown_hours: 24\n"))

    first = wb.pipeline.run("churn", {"epochs": 2}, root=project)
    [trained] = retrained_runs(tracking, first.run_id)
    run_id = trained.info.run_id
    assert trained.data.tags["workbench.notebook.sha256"] == hashlib.sha256(
        (project / "notebooks" / "pilot.ipynb").read_bytes()).hexdigest()

    # each person signs in with their own login where there are any (the services' server
    # records the login it verified; a name that is not the caller's is refused)
    ana_env, bo_env = lifecycle.login("ana"), lifecycle.login("bo")
    ana = ana_env.get("MLFLOW_TRACKING_USERNAME", "ana")
    bo = bo_env.get("MLFLOW_TRACKING_USERNAME", "bo")
    monitor = "workbench-monitor" if lifecycle.kind == "embedded" else \
        lifecycle.env["MLFLOW_TRACKING_USERNAME"]  # the monitor's own login

    def promote(*flags: str) -> object:
        return run_workbench("promote", "churn", "--run", run_id, "--approver", ana,
                             "--reason", "pilot is good", *flags, home=wb_home, cwd=project,
                             env=ana_env)

    refused = promote("--require", "val_auc>=0.999", "--json")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "failing gates: metric val_auc>=0.999" in refused.stderr
    assert tracking.get_registered_model("churn").aliases == {}
    done = promote("--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["version"], record["alias"]) == ("1", "champion")
    policy = "registry policy (pipelines/churn.yaml)"  # the spec's gates, held by the model
    assert [(g["gate"], g["passed"], g["inputs"]["source"]) for g in record["gates"]] == [
        ("metric val_auc>=0.6", True, policy),
        ("beats champion on val_auc by -0.2", True, policy),
        ("data validation", True, policy)]
    dossier = wb.dossier("churn", "1")
    evidence = dossier["evidence"]
    assert evidence["pipeline_run"] == first.run_id
    assert evidence["notebook_sha256"] == trained.data.tags["workbench.notebook.sha256"]
    assert evidence["datasets"] and evidence["datasets"][0]["digest"]

    # Production moves: one retraining, and its model waits for a second person.
    storm = [wb.monitor("churn", project / "moved.parquet", root=project) for _ in range(2)]
    assert [s.triggered for s in storm] == [True, False]
    proposal = storm[0].promotion or {}
    assert proposal["action"] == "requested", proposal
    retrained = tracking.get_run(str(storm[0].candidate_run_id))
    assert retrained.data.tags["workbench.pipeline_run"] == storm[0].pipeline_run_id
    retraining = tracking.get_run(str(storm[0].pipeline_run_id))
    assert retraining.data.params["drift_data"] == str(project / "moved.parquet")
    assert str(tracking.get_model_version_by_alias("churn", "champion").version) == "1"
    approved = run_workbench("approve", proposal["request_id"], "--approver", bo, "--reason",
                             "retrained on the new season", home=wb_home, cwd=project,
                             env=bo_env)
    assert approved.returncode == 0, approved.stderr
    assert str(tracking.get_model_version_by_alias("churn", "champion").version) == "2"

    # Roll back; with auto_promote on, the next drift window retrains and promotes by itself.
    assert run_workbench("rollback", "churn", "--approver", ana, "--reason", "test",
                         home=wb_home, cwd=project, env=ana_env).returncode == 0
    spec.write_text(spec.read_text().replace("cooldown_hours: 24\n",
                                             "cooldown_hours: 24\n  auto_promote: true\n"))
    tomorrow = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    auto = wb.monitor("churn", project / "moved.parquet", root=project, now=tomorrow)
    assert auto.triggered and (auto.promotion or {}).get("action") == "promoted", auto
    assert str(tracking.get_model_version_by_alias("churn", "champion").version) == "3"
    actions = [(e["action"], e.get("approver") or e.get("requester")) for e in
               wb.history("churn")]
    assert actions == [("policy", ana), ("rejected", ana), ("promoted", ana),
                       ("requested", monitor), ("promoted", bo),
                       ("rollback", ana), ("promoted", monitor)]
    verified = workbench("history", "churn", "--verify", home=wb_home, cwd=project)
    assert verified.returncode == 0, verified.stderr
