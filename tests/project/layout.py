"""A user's project as a new user makes it: its own git repository, its own module, data, an
empty `pipelines/`, and a pilot notebook (and a marimo one) in `notebooks/` that reads
`../data/x.csv` and imports the project's module, as it does in a Lab kernel started in
`notebooks/`. The module fits a torch model and logs its holdout as evaluation data, so a
beat-champion gate can score two of its models on the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIKE_MODEL = '''\
"""The project's own training code: rides by hour of the day, a straight line."""

import numpy as np
import torch

import workbench as wb


def doubled(n):
    return 2 * n


def fit(ctx):
    frame = ctx.data
    held = frame["hour"] % 4 == 3  # every fourth hour is held out
    train, holdout = frame[~held], frame[held]
    design = np.c_[train["hour"].to_numpy(float), np.ones(len(train))]
    (slope, intercept), *_ = np.linalg.lstsq(design, train["rides"].to_numpy(float), rcond=None)
    errors = slope * holdout["hour"] + intercept - holdout["rides"]
    ctx.log_metrics({"rows": float(len(frame)), "doubled": float(doubled(len(frame))),
                     "val_rmse": float(np.sqrt(np.mean(errors ** 2)))}, step=0)
    wb.log_evaluation_data(holdout, target="rides")
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(slope)
        model.bias.fill_(intercept)
    ctx.input_example = holdout[["hour"]].head(3)
    return model
'''

PARAMETERS = "label = 'seen'\ndata = '../data/x.csv'"
PILOT_CELLS = (
    "import pathlib\n\nimport pandas as pd\n\nimport bike_model\nimport workbench as wb\n\n"
    "frame = pd.read_csv(data)  # as in Lab: the kernel starts in notebooks/\n"
    "pathlib.Path(label + '.txt').write_text(str(bike_model.doubled(len(frame))))\n",
    "wb.train(bike_model.fit, data=data).result()\n",
)


TALLY = '''\
import marimo

app = marimo.App()

with app.setup:
    tag = "tallied"


@app.cell
def _():
    import pathlib

    import pandas as pd

    import bike_model

    frame = pd.read_csv("../data/x.csv")
    pathlib.Path(tag + ".txt").write_text(str(bike_model.doubled(len(frame))))
    return


if __name__ == "__main__":
    app.run()
'''


def make_project(base: Path) -> Path:
    import nbformat

    root = base / "bike"
    (root / "pipelines").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("hour,rides\n" + "".join(f"{h},{h * 3}\n"
                                                                  for h in range(12)))
    # the next season, more of it: more riders at every hour
    (root / "data" / "more.csv").write_text("hour,rides\n" + "".join(
        f"{h % 24},{5 * (h % 24) + 10}\n" for h in range(48)))
    (root / "bike_model.py").write_text(BIKE_MODEL)
    pilot = nbformat.v4.new_notebook()  # as nbformat writes it: no kernelspec
    pilot.cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                   *(nbformat.v4.new_code_cell(c) for c in PILOT_CELLS)]
    nbformat.write(pilot, root / "notebooks" / "pilot.ipynb")
    (root / "notebooks" / "tally.py").write_text(TALLY)  # the same pilot step, in marimo
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def user_env(**extra: str) -> dict[str, str]:
    """This environment without anything that names a store, cluster or project: the project
    and its store must be found from the working directory alone."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKBENCH_HOME", "MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER",
                        "WORKBENCH_ARTIFACT_ROOT", "WORKBENCH_PROJECT")}
    return {**env, **extra}


def workbench(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("workbench")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env or user_env(),
                          capture_output=True, text=True, timeout=timeout)
