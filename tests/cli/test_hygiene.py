"""What every command owes a script and a person: one `error:` line and exit 1 on any failure,
MLflow's own exceptions included, and no password on screen."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import workbench
from tests.stores import free_port


def test_an_mlflow_exception_is_one_error_line(tmp_path: Path) -> None:
    done = workbench("runs", home=tmp_path, env={"MLFLOW_TRACKING_URI": "bogus-scheme://x"},
                     timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: MLflow: ") and done.stderr.count("\n") == 1, \
        done.stderr
    assert "Traceback" not in done.stderr


def test_no_command_prints_the_password_of_a_tracking_uri(tmp_path: Path) -> None:
    uri = f"http://ana:s3cret-pw@127.0.0.1:{free_port()}"  # nothing listens there
    for args in (("runs",), ("doctor",), ("history", "m")):
        done = workbench(*args, home=tmp_path, env={"MLFLOW_TRACKING_URI": uri}, timeout=120)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "s3cret-pw" not in done.stdout + done.stderr, (args, done.stderr)
        assert "ana:***@127.0.0.1" in done.stdout + done.stderr, (args, done.stderr)
