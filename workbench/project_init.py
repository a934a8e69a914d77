"""`workbench init`: a team's own project, ready for its first tracked run.

Writes what a project needs and nothing it already has: a pilot notebook with a papermill
`parameters` cell (it trains the built-in classifier on the team's CSV or Parquet file, or on
generated data until there is one), `pipelines/`, `data/`, a `[tool.workbench]` section in
`pyproject.toml` (which marks the project root for every workbench command below it) and
`.gitignore` lines that keep the embedded store out of git. Existing files are kept: a
`pyproject.toml` without the section gets it appended, a `.gitignore` the missing lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ConfigError
from workbench.files import write_atomically

PILOT = Path("notebooks") / "pilot.ipynb"
IGNORED = (".workbench/", "mlruns/", "*.executed.ipynb")

PARAMETERS = '''\
train_data = ""  # your CSV or Parquet file, e.g. "../data/train.csv"; empty: generated data
target = "churned"  # its binary target column (0/1)
rows = 4000  # rows of generated data, used when train_data is empty
epochs = 3  # training epochs
seed = 0  # seed of the data split and the weights
drift_data = ""  # set by workbench monitor: recent production data, added to the training data
experiment = "pilot"  # MLflow experiment of the training runs
'''

DATA = '''\
import hashlib
import os
import pathlib

import pandas as pd

import workbench as wb
from workbench.demo.synthetic import TARGET


def read(path):
    path = pathlib.Path(path)
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


frame = read(train_data) if train_data else wb.demo.make_dataset(rows, seed=seed)
if drift_data:  # retraining: learn the world as it is now
    frame = pd.concat([frame, read(drift_data)], ignore_index=True)
frame = frame.rename(columns={target: TARGET})  # the built-in classifier's target name

# one file per distinct dataset, so the run records its path and digest for drift and gates
data_dir = pathlib.Path(os.environ.get("WORKBENCH_HOME", "../.workbench")) / "data"
data_dir.mkdir(parents=True, exist_ok=True)
digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()).hexdigest()
training_file = data_dir / f"pilot-{digest[:12]}.parquet"
frame.to_parquet(training_file)
print(f"{len(frame)} rows -> {training_file}")
'''

TRAIN = '''\
job = wb.train("workbench.demo.classifier:train", params={"epochs": epochs},
               data=str(training_file), experiment=experiment, seed=seed)
result = job.result()
result.metrics
'''

INTRO = '''\
# Pilot

Trains a classifier on Dask, tracked in MLflow (data, code, environment and seed). Point
`train_data` at your file and `target` at its 0/1 column, or replace the training cell with
your own `wb.train("module:function", ...)`. When it works, make it a pipeline:

```bash
workbench pipeline create --from notebooks/pilot.ipynb --name pilot --model pilot
workbench pipeline run pilot
```
'''


@dataclass
class Scaffold:
    root: Path
    written: list[str] = field(default_factory=list)  # relative paths created or extended
    kept: list[str] = field(default_factory=list)  # relative paths that existed, left alone

    def next_commands(self) -> list[str]:
        return ["workbench lab                     # open notebooks/pilot.ipynb and run it",
                "workbench pipeline create --from notebooks/pilot.ipynb --name pilot "
                "--model pilot",
                "workbench pipeline run pilot -p epochs=3   # a tracked run on the cluster"]


def init_project(root: str | Path, *, name: str | None = None) -> Scaffold:
    """Scaffold a project in `root` (created if missing); never overwrites a file."""
    import nbformat

    base = Path(root).expanduser().resolve()
    if base.exists() and not base.is_dir():
        raise ConfigError(f"{base} is a file; give a folder for the project")
    base.mkdir(parents=True, exist_ok=True)
    done = Scaffold(base)
    for folder in ("pipelines", "data", "notebooks"):
        (base / folder).mkdir(exist_ok=True)
    pilot = base / PILOT
    if pilot.exists():
        done.kept.append(PILOT.as_posix())
    else:
        notebook = nbformat.v4.new_notebook()
        parameters = nbformat.v4.new_code_cell(PARAMETERS)
        parameters.metadata["tags"] = ["parameters"]
        notebook.cells = [nbformat.v4.new_markdown_cell(INTRO), parameters,
                          nbformat.v4.new_code_cell(DATA), nbformat.v4.new_code_cell(TRAIN)]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        write_atomically(pilot, nbformat.writes(notebook))
        done.written.append(PILOT.as_posix())
    _pyproject(base / "pyproject.toml", name or base.name, done)
    _gitignore(base / ".gitignore", done)
    return done


def _pyproject(path: Path, name: str, done: Scaffold) -> None:
    from workbench.project import _declares_workbench

    if _declares_workbench(path):
        done.kept.append(path.name)
        return
    section = ("[tool.workbench]\n# this folder is a workbench project: commands below it use "
               "its pipelines/ and store\n")
    if path.exists():
        text = path.read_text(encoding="utf-8")
        write_atomically(path, text + ("" if text.endswith("\n") else "\n") + "\n" + section)
    else:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "project"
        write_atomically(path, f'[project]\nname = "{safe}"\nversion = "0.1.0"\n\n{section}')
    done.written.append(path.name)


def _gitignore(path: Path, done: Scaffold) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    missing = [line for line in IGNORED if line not in text.splitlines()]
    if not missing:
        done.kept.append(path.name)
        return
    lead = "" if not text or text.endswith("\n") else "\n"
    write_atomically(path, text + lead + "# workbench: the embedded store and executed copies\n"
                     + "\n".join(missing) + "\n")
    done.written.append(path.name)
