"""`workbench pipeline create`: a pilot notebook becomes `pipelines/NAME.yaml`."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ConfigError
from workbench.files import write_atomically
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import PipelineSpec, Step, dump_spec, load_spec

PIPELINES_DIR = "pipelines"


def project_path(path: str | Path, root: Path) -> Path:
    """`path` resolved, and checked to lie inside the project: specs name notebooks relative
    to the project root so they run the same from any clone."""
    resolved = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(f"{resolved} is outside the project {root}; pipelines run notebooks "
                          "from the project only: copy it in")
    return resolved


def create(notebook: str | Path, name: str, *, model: str | None = None,
           root: Path | None = None, force: bool = False) -> Path:
    """Write the spec of a one-step pipeline running `notebook`; returns the spec's path."""
    root = (root or Path.cwd()).resolve()
    source = project_path(notebook, root)
    if not source.is_file():
        raise ConfigError(f"notebook {source} does not exist; check the path")
    params = notebook_parameters(source)
    relative = source.relative_to(root).as_posix()
    try:
        spec = PipelineSpec(name=name, params=params, model=model,
                            steps=[Step(name=source.stem, notebook=relative)])
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[-1].removeprefix("  Value error, ")) from None
    target = root / PIPELINES_DIR / f"{name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; edit it, pick another --name, or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Pipeline {name}, created from {relative}. Edit freely: "
              f"`workbench pipeline run {name}` checks it first.\n")
    # what we write must read back
    return write_atomically(target, header + dump_spec(spec), check=load_spec)
