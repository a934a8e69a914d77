"""`workbench runs`, `history` and `pipeline list` read the embedded store without importing
MLflow, and print exactly what they print through MLflow's client on the same store.

Each command runs twice in a real process: as users run it, and with the fast path's known
schemas emptied, which sends every read through MlflowClient (the code path before it). The
store holds what makes the two differ if a query is off: ties in start time, a deleted run,
NaN and infinite metrics logged in non-alphabetical order, nested runs, quotes in names, a
history entry too large for a tag (kept as an artifact), a pending request, slot records and
an invalid spec beside a valid one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.tracking.fast_read import KNOWN_SCHEMAS, installed_head, open_fast

TELL = ("import atexit, sys; atexit.register(lambda: sys.stderr.write("
        "'mlflow imported: %s\\n' % ('mlflow' in sys.modules)))")
FAST = f"{TELL}; from workbench.cli import main; main()"
# Many commands in one process, each as `workbench ARGS` with its own stdout, stderr and exit
# code: one interpreter start per path instead of one per command (each costs an import).
MANY = """
import contextlib, io, json, sys
from workbench.cli import main
done = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["workbench", *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    done.append([code, out.getvalue(), err.getvalue()])
print(json.dumps({"results": done, "mlflow imported": "mlflow" in sys.modules}))
"""
TO_MLFLOW = "import workbench.tracking.fast_read as fast; fast.KNOWN_SCHEMAS = frozenset()\n"
SPEC = """name: churn
params:
  epochs: {type: int, default: 3}
steps:
- {name: pilot, notebook: pilot.ipynb}
model: churn
schedule: 0 3 * * *
"""


def cli(code: str, *args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_PROJECT",
                        "WORKBENCH_ARTIFACT_ROOT")}
    env["WORKBENCH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _split(done: subprocess.CompletedProcess[str]) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr without the marker, whether MLflow was imported)."""
    lines = done.stderr.splitlines()
    marker = [line for line in lines if line.startswith("mlflow imported: ")]
    assert marker, done.stderr
    rest = "\n".join(line for line in lines if not line.startswith("mlflow imported: "))
    return done.returncode, done.stdout, rest, marker[-1].endswith("True")


# -- the store ------------------------------------------------------------------------------
def _runs(client: Any) -> None:
    from mlflow.entities import Metric, RunTag

    from workbench.tracking.store import ensure_experiment

    experiment = ensure_experiment(client)  # the default experiment of `workbench runs`
    first = None
    for i in range(24):
        start = 1_700_000_000_000 + (i // 3) * 1000  # three runs share each start time
        run = client.create_run(experiment, run_name=f"run {i}", start_time=start,
                                tags={"workbench.kind": "train"} if i % 2 else {})
        run_id = run.info.run_id
        metrics = [Metric("zeta", 1.0 / (i + 1), start, 0), Metric("alpha", float(i), start, 0)]
        metrics += [Metric("loss", 1.0 / (step + 1), start, step) for step in range(3)]
        if i % 4 == 0:
            metrics += [Metric("nan_metric", math.nan, start, 0),
                        Metric("too_big", math.inf, start, 0)]
        tags = [RunTag("mlflow.parentRunId", first)] if first and i % 5 == 0 else []
        client.log_batch(run_id, metrics=metrics, tags=tags)
        client.set_terminated(run_id, "FAILED" if i == 7 else "FINISHED")
        first = first or run_id
        if i == 9:
            client.delete_run(run_id)
    quoted = ensure_experiment(client, "o'brien's")
    run = client.create_run(quoted, run_name='say "hi"')
    client.log_batch(run.info.run_id, metrics=[Metric("m", 0.5, 0, 0)])


def _history() -> None:
    import workbench as wb
    from tests.promotion.runs import model_run

    first, second = model_run(0.8), model_run(0.9)
    wb.promote("churn", run_id=first, approver="ana", reason="first <b>pilot</b>")
    wb.promote("churn", run_id=second, approver="bo", reason="x" * 5000)  # kept as an artifact
    wb.rollback("churn", approver="ana", reason="v2 mis-scores")
    wb.promote("churn", run_id=second, approver="bo", reason="again", four_eyes=True)


def _pipelines(client: Any, project: Path) -> None:
    from workbench.pipelines.slots import SlotBook
    from workbench.tracking.store import ensure_experiment

    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "churn.yaml").write_text(SPEC)
    (project / "pipelines" / "broken.yaml").write_text("name: broken\nsteps: 3\n")
    book = SlotBook(client)
    for day, state in ((1, "ran"), (2, "failed"), (3, "running")):
        record = book.open("churn", f"2026-11-0{day}T03:00:00+00:00", "host-a:1")
        if state != "running":
            book.close(record, state, error="boom" if state == "failed" else "")
    experiment = ensure_experiment(client, "pipeline-churn")
    run = client.create_run(experiment, run_name="churn", tags={"workbench.kind": "pipeline"})
    client.set_terminated(run.info.run_id, "FINISHED")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(home, project root) of a store written through MLflow, as workbench writes it."""
    root = tmp_path_factory.mktemp("read-paths")
    home, project = root / "wb", root / "project"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(home))
        for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
            mp.delenv(name, raising=False)
        from workbench.tracking.store import tracking_client

        client = tracking_client()
        _runs(client)
        _history()
        _pipelines(client, project)
    return home, project


# -- the tests ------------------------------------------------------------------------------
READS = [
    ("runs", "--json"),
    ("runs",),
    ("runs", "--limit", "4", "--json"),
    ("runs", "--experiment", "o'brien's", "--json"),
    ("history", "churn", "--json"),
    ("history", "churn"),
    ("pipeline", "list", "--json"),
    ("pipeline", "list"),
]
# what the fast path does not serve (a missing model, --verify) goes to MLflow, and a missing
# experiment is the same one line
OTHERS = [("runs", "--experiment", "nope"), ("history", "nope"), ("history", "churn", "--verify")]


def _many(code: str, commands: list[tuple[str, ...]], home: Path, cwd: Path
          ) -> tuple[dict[tuple[str, ...], tuple[int, str, str]], bool]:
    done = cli(code, json.dumps(commands), home=home, cwd=cwd)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return ({args: tuple(r) for args, r in zip(commands, answer["results"], strict=True)},
            answer["mlflow imported"])


@pytest.fixture(scope="module")
def answers(project: tuple[Path, Path]) -> dict[str, Any]:
    """Every command's (exit code, stdout, stderr): the reads in one process as users get them,
    the others in a second, and all of them in a third sent through MlflowClient."""
    home, root = project
    fast, fast_imported = _many(MANY, READS, home, root)
    others, _ = _many(MANY, OTHERS, home, root)
    slow, slow_imported = _many(TO_MLFLOW + MANY, READS + OTHERS, home, root)
    return {"fast": {**fast, **others}, "mlflow": slow, "reads imported mlflow": fast_imported,
            "comparison went through mlflow": slow_imported}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_read_command_prints_what_mlflow_reads_without_importing_it(
        answers: dict[str, Any], args: tuple[str, ...]) -> None:
    assert not answers["reads imported mlflow"], "a read path imported mlflow"
    assert answers["comparison went through mlflow"]
    code, out, err = answers["fast"][args]
    assert code == 0, err
    assert (code, out, err) == answers["mlflow"][args]
    if "--json" in args:
        assert json.loads(out)  # one JSON object, and not an empty one


@pytest.mark.timeout(600)
@pytest.mark.parametrize("args", OTHERS, ids=" ".join)
def test_errors_and_other_reads_are_mlflows_own(answers: dict[str, Any],
                                                 args: tuple[str, ...]) -> None:
    assert answers["fast"][args] == answers["mlflow"][args]
    assert answers["fast"][args][0] == (0 if "--verify" in args else 1)


def test_installed_mlflow_schema_is_one_the_fast_path_knows() -> None:
    """An MLflow upgrade that migrates the store shows up here: check the queries in
    workbench/tracking/fast_read.py against its tables, then add the new head."""
    assert installed_head() in KNOWN_SCHEMAS


@pytest.mark.timeout(300)
def test_store_at_an_older_schema_gets_mlflows_answer(project: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    home, root = project
    old = tmp_path / "wb"
    shutil.copytree(home, old)
    with sqlite3.connect(old / "mlflow.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '1b5f0d9ad7c1'")
    assert open_fast(f"sqlite:///{old / 'mlflow.db'}") is None
    code, out, err, imported = _split(cli(FAST, "runs", "--json", home=old, cwd=root))
    assert imported and code == 1 and out == ""
    assert err.startswith("error: ") and "mlflow db upgrade" in err and len(err.splitlines()) == 1


def test_other_stores_are_read_by_mlflow(tmp_path: Path) -> None:
    assert open_fast("http://127.0.0.1:5000") is None
    assert open_fast(f"sqlite:///{tmp_path / 'missing.db'}") is None  # MLflow creates it
    assert not (tmp_path / "missing.db").exists()


def test_pipeline_list_without_pipelines_opens_no_store(tmp_path: Path) -> None:
    home = tmp_path / "wb"
    code, out, err, imported = _split(cli(FAST, "pipeline", "list", "--json", home=home,
                                          cwd=tmp_path))
    assert (code, json.loads(out)) == (0, {"pipelines": []}), err
    assert not imported and not home.exists()
