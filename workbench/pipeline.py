"""`wb.pipeline`: pilot notebooks into pipelines (see `workbench.pipelines` for the parts).

    wb.pipeline.create("notebooks/pilot.ipynb", name="churn")   # writes pipelines/churn.yaml
    wb.pipeline.run("churn", params={"rows": 10_000})           # runs the DAG on dask
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from workbench.config import project_root
from workbench.pipelines.run import PipelineRun, run
from workbench.pipelines.spec import PipelineSpec, load_spec

__all__ = ["PipelineRun", "PipelineSpec", "create", "load", "run"]


def create(notebook: str | Path | Sequence[str | Path], *, name: str, model: str | None = None,
           force: bool = False, root: str | Path | None = None) -> Path:
    """Write `pipelines/NAME.yaml` from the notebook's declared parameters; returns its path.
    Several notebooks make a chain, run in the order given."""
    from workbench.pipelines.create import create as _create

    return _create(notebook, name, model=model, force=force,
                   root=Path(root) if root is not None else None)


def load(name: str, *, root: str | Path | None = None) -> PipelineSpec:
    from workbench.pipelines.run import spec_path

    return load_spec(spec_path(name, project_root(root)))
