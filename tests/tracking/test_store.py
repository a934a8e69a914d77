"""Where the embedded store puts things: only in its own home, never in a working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, cwd: Path, **env: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    clean["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


def test_a_store_elsewhere_makes_no_home_in_the_working_folder(tmp_path: Path) -> None:
    """A dask worker is handed the client's store URI; its own working folder (on CI the
    checkout, on a cluster every worker host's cwd) must not get a `.workbench/`."""
    worker_cwd = tmp_path / "worker"
    (worker_cwd / ".git").mkdir(parents=True)  # a project root, as a checkout is
    store = tmp_path / "shared" / "mlflow.db"
    _python("import sys; from workbench.tracking.store import tracking_client; "
            "tracking_client(sys.argv[1] if len(sys.argv) > 1 else "
            f"'sqlite:///{store}').search_experiments()", worker_cwd)
    assert store.exists()
    assert not (worker_cwd / ".workbench").exists()


def test_plain_mlflow_calls_keep_their_artifacts_in_the_home(tmp_path: Path) -> None:
    """A notebook mixing plain `mlflow.start_run()` with workbench: MLflow's Default experiment
    would file artifacts under `./mlruns` of the notebook's folder."""
    home, notebooks = tmp_path / "home", tmp_path / "notebooks"
    notebooks.mkdir()
    _python("import mlflow; from workbench.tracking.store import tracking_client\n"
            "tracking_client()\n"
            "with mlflow.start_run():\n"
            "    mlflow.log_text('hello', 'note.txt')\n", notebooks, WORKBENCH_HOME=str(home))
    assert not (notebooks / "mlruns").exists()
    assert list((home / "artifacts" / "0").rglob("note.txt"))
    assert (home / ".gitignore").read_text().strip().endswith("*")
