"""wb.train, wb.sweep, wb.drift and wb.pipeline.run from code with no `__main__` guard.

Each case runs one real Python process against a fresh embedded store: a script file, `python -c`
and standard input (`python - <<EOF`). The local cluster's spawned workers used to re-run the
caller's main module and die.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stores import seed_new_store

ROOT = Path(__file__).resolve().parents[2]

# No main guard on purpose: top-level code that trains, sweeps, drifts and runs a pipeline.
SCRIPT = """
import json, sys
import workbench as wb

def fit(ctx):
    ctx.log_metrics({"score": ctx.params.get("x", 1) * 2.0}, step=0)

trained = wb.train(fit, params={"x": 3}, progress=False).result(timeout=120)
swept = wb.sweep(fit, space={"x": [1, 2]}, metric="score", mode="max",
                 progress=False).best()
ref = wb.demo.make_dataset(400, seed=0)
cur = wb.demo.make_dataset(400, seed=1, covariate_drift=1.0)
ref.to_parquet("ref.parquet"); cur.to_parquet("cur.parquet")
drift = wb.drift("ref.parquet", "cur.parquet", engine="dask")
outcome = wb.pipeline.run("plain", {"rows": 4}, root=".")
print(json.dumps({"train": trained.metrics, "sweep": swept.metrics, "drifted": drift.drifted,
                  "pipeline": outcome.status}))
"""

PIPELINE = ("name: plain\nparams:\n  rows: {type: int, default: 3}\nsteps:\n"
            "- name: double\n  function: stepfns:double\n")


@pytest.mark.parametrize("how", ["script", "dash-c", "stdin"])
def test_unguarded_code_runs_on_the_local_cluster(how: str, tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "plain.yaml").write_text(PIPELINE)
    (tmp_path / "stepfns.py").write_text("def double(rows):\n    return {'doubled': rows * 2}\n")
    (tmp_path / "train_it.py").write_text(SCRIPT)
    command = {"script": [sys.executable, "train_it.py"],
               "dash-c": [sys.executable, "-c", SCRIPT],
               "stdin": [sys.executable, "-"]}[how]
    seed_new_store(tmp_path / "wb")
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "wb"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
        env.pop(name, None)
    done = subprocess.run(command, input=SCRIPT if how == "stdin" else None, cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"train": {"score": 6.0}, "sweep": {"score": 4.0}, "drifted": True,
                   "pipeline": "FINISHED"}
