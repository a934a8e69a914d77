"""`wb.pipeline`: pilot notebooks promoted into a scheduled, gated DAG.

    wb.pipeline.create("notebooks/pilot.ipynb", name="churn")   # writes pipelines/churn.yaml
    wb.pipeline.run("churn", params={"rows": 10_000})           # runs the DAG on dask

The parts: `spec` (the YAML model), `from_notebook`, `execute` (the run on dask), `steps`,
`kernels` (which Jupyter kernel runs a notebook), `schedule` (slots claimed in the store),
`slots` (their history), `listing`. Attributes load lazily: `promotion` reads specs without
loading the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.pipelines.execute import PipelineRun
    from workbench.pipelines.spec import PipelineSpec

__all__ = ["PipelineRun", "PipelineSpec", "create", "load", "run", "status"]


def create(notebook: str | Path | Sequence[str | Path], *, name: str, model: str | None = None,
           force: bool = False, root: str | Path | None = None) -> Path:
    """Write `pipelines/NAME.yaml` from the notebook's declared parameters; returns its path.
    Several notebooks make a chain, run in the order given."""
    from workbench.pipelines.from_notebook import create as _create

    return _create(notebook, name, model=model, force=force,
                   root=Path(root) if root is not None else None)


def status(*, root: str | Path | None = None, slots: int = 5) -> list[dict[str, Any]]:
    """Each pipeline of the project: its steps, schedule, next slot, last run (status, id) and
    its last `slots` scheduled slots with what happened to them (what `pipeline list` shows)."""
    from workbench.config import project_root
    from workbench.pipelines.listing import list_pipelines

    return list_pipelines(project_root(root), slots=slots)


def load(name: str, *, root: str | Path | None = None) -> PipelineSpec:
    from workbench.config import project_root
    from workbench.pipelines.execute import spec_path
    from workbench.pipelines.spec import load_spec

    return load_spec(spec_path(name, project_root(root)))


def run(name: str, params: Mapping[str, Any] | None = None, *, root: str | Path | None = None,
        experiment: str | None = None, on_event: Callable[[str, str, str], None] | None = None,
        timeout_s: float | None = None) -> PipelineRun:
    """Run pipeline `name` once on the dask cluster; raises PipelineFailed (after recording it)
    if a step fails."""
    from workbench.pipelines.execute import run as _run

    return _run(name, params, root=root, experiment=experiment, on_event=on_event,
                timeout_s=timeout_s)


def __getattr__(name: str) -> Any:
    if name == "PipelineRun":
        from workbench.pipelines.execute import PipelineRun

        return PipelineRun
    if name == "PipelineSpec":
        from workbench.pipelines.spec import PipelineSpec

        return PipelineSpec
    raise AttributeError(f"module 'workbench.pipelines' has no attribute {name!r}")
