"""A user's own project, trained through the real `workbench` command: the run, the approval
record and the dossier name the project's commit and the function's file, not workbench's."""

from __future__ import annotations

import hashlib
import html
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import workbench
from tests.helpers import on_cluster

BIKE_MODEL = '''\
import torch


def fit(ctx):
    ctx.log_metrics({"val_auc": 0.75}, step=0)
    ctx.input_example = torch.zeros(2, 3)
    return torch.nn.Linear(3, 1)
'''


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Its own git repository, with markup in its path (the dossier page must escape it)."""
    root = tmp_path / "bike <b>shop</b>"
    (root / "notebooks").mkdir(parents=True)
    (root / "bike_model.py").write_text(BIKE_MODEL)
    (root / "notebooks" / "README.md").write_text("pilots live here\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "bike model")
    return root


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cli_trained_version_names_the_projects_commit_and_source_file(
        project: Path, wb_home: Path, dask_client: Any) -> None:
    from workbench.tracking.store import tracking_client

    head = _git(project, "rev-parse", "HEAD")
    module = project / "bike_model.py"
    digest = hashlib.sha256(module.read_bytes()).hexdigest()
    env = on_cluster(dask_client)  # bike_model.py is found from the project, not PYTHONPATH

    trained = workbench("train", "bike_model:fit", "--register", "bikes", "--json",
                        home=wb_home, env=env, cwd=project, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_id = json.loads(trained.stdout)["run_id"]
    tags = tracking_client().get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == head
    assert tags["workbench.git.dirty"] == "false"
    assert tags["workbench.source"] == tags["mlflow.source.name"] == str(module)
    assert tags["workbench.source.sha256"] == digest
    assert not [v for v in tags.values() if v.endswith("bin/workbench")]  # not the console script

    promoted = workbench("promote", "bikes", "--run", run_id, "--approver", "ana", "--reason",
                         "first bike model", "--json", home=wb_home, env=env, cwd=project)
    assert promoted.returncode == 0, promoted.stderr
    evidence = json.loads(promoted.stdout)["evidence"]
    assert (evidence["git_commit"], evidence["source"], evidence["source_sha256"]) == (
        head, str(module), digest)

    page = wb_home / "dossier.html"
    shown = workbench("dossier", "bikes", "1", "--html", str(page), home=wb_home, env=env,
                      cwd=project)
    assert shown.returncode == 0, shown.stderr
    code = json.loads(shown.stdout)["code"]
    assert code["git_commit"] == head and code["git_dirty"] is False
    assert (code["source"], code["source_sha256"]) == (str(module), digest)
    text = page.read_text()
    assert head in text and html.escape(str(module)) in text
    assert "<b>shop</b>" not in text

    # Edited and not committed, trained again from a subfolder: the same commit, now dirty.
    module.write_text(BIKE_MODEL.replace("0.75", "0.8"))
    again = workbench("train", "bike_model:fit", "--register", "bikes", "--json",
                      home=wb_home, env=env, cwd=project / "notebooks", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    shown = workbench("dossier", "bikes", "2", home=wb_home, env=env, cwd=project)
    assert shown.returncode == 0, shown.stderr
    code = json.loads(shown.stdout)["code"]
    assert code["git_commit"] == head and code["git_dirty"] is True
    assert code["git_dirty_files"] == "bike_model.py" and code["source"] == str(module)
    assert code["source_sha256"] == hashlib.sha256(module.read_bytes()).hexdigest() != digest
