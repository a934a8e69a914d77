"""`workbench train` / `sweep` failures: one `error:` line on stderr and exit 1, nothing more."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import workbench


def _only_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "distributed." not in stderr, stderr
    # besides the error only the "submitted" notice and the cluster's start may appear
    assert all(line.startswith(("error: ", "run ", "sweep ", "workbench: ")) for line in lines), \
        stderr
    return errors[0]


def test_a_failing_train_function_is_one_error_line(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])  # where `tests.helpers` imports from
    done = workbench("train", "tests.helpers:slow_counter", "-p", "fail_at=0", "-p", "epochs=2",
                     "--json", home=tmp_path, timeout=240, env={"PYTHONPATH": repo})
    assert done.returncode == 1 and done.stdout == ""
    assert "ValueError: boom at epoch 0" in _only_error_line(done.stderr)


def test_an_mlflow_exception_is_one_error_line(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")  # the child's store
    client.delete_experiment(client.create_experiment(
        "gone", artifact_location=(tmp_path / "artifacts").as_uri()))
    done = workbench("sweep", "--demo", "--rows", "300", "--epochs", "1", "--experiment", "gone",
                     home=tmp_path, timeout=240)
    assert done.returncode == 1
    assert "MlflowException" in _only_error_line(done.stderr)


def test_remote_cluster_with_the_local_store_is_refused_before_anything_runs(
        tmp_path: Path) -> None:
    for command in ("train", "sweep"):
        done = workbench(command, "--demo", "--rows", "300", home=tmp_path, timeout=60,
                         env={"WORKBENCH_SCHEDULER": "tcp://dask-scheduler.invalid:8786"},
                         seed=False)
        assert done.returncode == 1
        line = _only_error_line(done.stderr)
        assert "cannot reach the local SQLite store" in line and "MLFLOW_TRACKING_URI" in line
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was recorded
