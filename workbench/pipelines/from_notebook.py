"""`workbench pipeline create`: a pilot notebook becomes `pipelines/NAME.yaml`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from workbench.config import project_root
from workbench.errors import ConfigError
from workbench.files import write_atomically
from workbench.pipelines.notebook_params import notebook_parameters
from workbench.pipelines.spec import Param, PipelineSpec, Step, dump_spec, load_spec
from workbench.project import PIPELINES_DIR, given_path


def create(notebooks: str | Path | Sequence[str | Path], name: str, *,
           model: str | None = None, root: Path | None = None, force: bool = False) -> Path:
    """Write the spec of a pipeline running `notebooks` one after another (one notebook: a
    one-step pipeline); returns the spec's path. Its parameters are every notebook's declared
    parameters; a name declared by several notebooks must have one type in all of them."""
    root = project_root(root)
    sources = [notebooks] if isinstance(notebooks, (str, Path)) else list(notebooks)
    if not sources:
        raise ConfigError("a pipeline needs at least one notebook (--from NOTEBOOK)")
    params: dict[str, Param] = {}
    declared_in: dict[str, str] = {}
    steps: list[Step] = []
    for notebook in sources:
        source = given_path(notebook, root)
        if not source.is_file():
            raise ConfigError(f"notebook {source} does not exist; check the path")
        relative = source.relative_to(root).as_posix()
        for key, param in notebook_parameters(source).items():
            if key not in params:
                params[key], declared_in[key] = param, relative
            elif params[key].type != param.type:
                raise ConfigError(f"parameter {key} is {params[key].type} in "
                                  f"{declared_in[key]} but {param.type} in {relative}; give it "
                                  "one type (or rename one) so one value suits both")
        step_name = _unique(source.stem, {s.name for s in steps})
        steps.append(Step(name=step_name, notebook=relative,
                          depends_on=[steps[-1].name] if steps else []))
    try:
        spec = PipelineSpec(name=name, params=params, model=model, steps=steps)
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[-1].removeprefix("  Value error, ")) from None
    target = root / PIPELINES_DIR / f"{name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; edit it, pick another --name, or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Pipeline {name}, created from {', '.join(s.notebook or '' for s in steps)}. "
              f"Edit freely: `workbench pipeline run {name}` checks it first.\n")
    # what we write must read back
    return write_atomically(target, header + dump_spec(spec), check=load_spec)


def _unique(stem: str, taken: set[str]) -> str:
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}-{n}", n + 1
    return name
