"""The promotion commands' hygiene: one `error:` line and exit 1 for every failure (MLflow's
included), no MLflow warning on a promotion, no password on screen."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli.test_cli import workbench
from tests.promotion.runs import model_run
from tests.stores import free_port


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    lines, err = done.stderr.strip().splitlines(), done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return str(lines[0])


def test_promote_is_quiet_and_store_errors_are_one_line(wb_home: Path) -> None:
    run_id = model_run(0.8)
    done = workbench("promote", "quiet", "--run", run_id, "--approver", "ana", "--reason", "v1",
                     home=wb_home)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "artifact path" not in done.stderr, done.stderr
    assert done.stdout.startswith("quiet v1 is now champion")
    line = _one_error_line(workbench("promote", "bad:name", "--run", run_id, "--approver",
                                     "ana", "--reason", "r", home=wb_home))
    assert "cannot register model 'bad:name'" in line and "cannot contain" in line
    line = _one_error_line(workbench("rollback", "quiet", "--approver", "ana", "--reason", "r",
                                     home=wb_home))
    assert "replaced no earlier version" in line


def test_no_command_prints_a_password(wb_home: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": f"http://ana:s3cret-pw@127.0.0.1:{free_port()}",
           "MLFLOW_TRACKING_PASSWORD": "s3cret-pw"}
    for args in (["history", "m", "--verify"], ["unlock", "m", "--approver", "a", "--reason",
                                                 "r"]):
        done = workbench(*args, home=wb_home, env=env)
        line = _one_error_line(done)
        assert "s3cret" not in done.stdout + done.stderr
        assert "http://ana:***@127.0.0.1" in line
