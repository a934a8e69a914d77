"""The project: which folder it is (found the same way from every command, kernel and worker),
where its pipeline specs live, and paths checked to lie inside it."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

PIPELINES_DIR = "pipelines"
HOME_DIR = ".workbench"
PROJECT_VARIABLE = "WORKBENCH_PROJECT"


@dataclass(frozen=True)
class Project:
    root: Path
    reason: str  # why this folder: the marker found, or the fallback taken (doctor shows it)


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """The project that `start` (default: the working directory) belongs to.

    `WORKBENCH_PROJECT` overrides; else the nearest folder, walking up, that holds
    `pipelines/`, `.workbench/` or a `[tool.workbench]` section in pyproject.toml; else the git
    root; else `start` itself. The walk never leaves a git repository (what lies above it is
    another project), and the home, temp and filesystem root folders are skipped unless they
    are `start` itself: a `.workbench/` or a dotfiles `.git` there would otherwise capture
    every folder below them.
    """
    pinned = os.environ.get(PROJECT_VARIABLE)
    if pinned:
        root = Path(pinned).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(f"{PROJECT_VARIABLE}={pinned} is not a folder; point it at the "
                              "project's root folder or unset it")
        return Project(root, f"{PROJECT_VARIABLE} is set")
    here = Path(start or Path.cwd()).resolve()
    shared = _shared_folders()
    for folder in (here, *here.parents):
        if folder in shared and folder != here:
            continue
        marker = _marker(folder)
        if marker is not None:
            return Project(folder, f"holds {marker}")
        if (folder / ".git").exists():  # a directory, or a file in a worktree or submodule
            return Project(folder, "git root (no pipelines/, .workbench/ or [tool.workbench] "
                                   "on the way up)")
    return Project(here, "working directory (no project marker or git repository above it)")


def _marker(folder: Path) -> str | None:
    specs = folder / PIPELINES_DIR
    if specs.is_dir() and not (specs / "__init__.py").exists():  # a package is code, not specs
        return f"{PIPELINES_DIR}/"
    if (folder / HOME_DIR).is_dir():
        return f"{HOME_DIR}/"
    if _declares_workbench(folder / "pyproject.toml"):
        return "[tool.workbench] in pyproject.toml"
    return None


def _declares_workbench(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    if "tool.workbench" not in text:  # most pyproject files: no parse needed
        return False
    import tomllib

    try:
        return "workbench" in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:  # a broken file still says what it meant
        return any(line.strip().startswith("[tool.workbench") for line in text.splitlines())


def _shared_folders() -> set[Path]:
    folders = {Path(Path.cwd().anchor or "/").resolve(), Path(tempfile.gettempdir()).resolve()}
    with contextlib.suppress(RuntimeError):  # no home directory known
        folders.add(Path.home().resolve())
    return folders


def on_import_path(root: Path) -> None:
    """Put the project first on this process's import path, as `python -m` puts the working
    directory: `workbench train bike_model:fit` imports the project's bike_model.py."""
    entry = str(root)
    if sys.path[:1] != [entry]:
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def python_path(root: Path, current: str | None = None) -> str:
    """A PYTHONPATH with the project first (for kernels and subprocesses)."""
    parts = [p for p in (current if current is not None
                         else os.environ.get("PYTHONPATH", "")).split(os.pathsep)
             if p and p != str(root)]
    return os.pathsep.join([str(root), *parts])


def import_project_module(name: str, root: Path | None = None) -> object:
    """Module `name`, with the project on the import path; a module that cannot be found is one
    line naming the folders searched."""
    import importlib

    base = root or find_project().root
    on_import_path(base)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or name
        if missing != name and not name.startswith(f"{missing}."):
            raise ConfigError(f"{name} imports {missing!r}, which is not installed here; "
                              f"install it (or add it to the project)") from None
        searched = [p for p in sys.path if p and Path(p).is_dir()][:4]
        raise ConfigError(f"No module named {missing!r} (searched: {', '.join(searched)}, ...); "
                          f"run from the project or set {PROJECT_VARIABLE}") from None


def project_modules() -> list[Any]:
    """The loaded top-level modules imported from the project's own folder (not its virtualenv,
    not workbench itself, which every worker has)."""
    root = find_project().root
    out = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if "." in name or not file or name == "workbench" or name == "__main__":
            continue
        try:
            first = Path(file).resolve().relative_to(root).parts[0]
        except ValueError:
            continue
        if first in (f"{name}.py", name):
            out.append(module)
    return out


class ByValue:
    """A train function pickled by value, at once on the client: dask pickles tasks by
    reference whenever plain pickle can, which a remote worker without the file cannot load."""

    def __init__(self, fn: Callable[..., Any], modules: list[Any]) -> None:
        import cloudpickle

        registered = set(cloudpickle.list_registry_pickle_by_value())
        added = [m for m in modules if m.__name__ not in registered]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            self.payload = cloudpickle.dumps(fn)
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)
        self.fn = fn
        self.__wrapped__ = fn  # provenance and inspect see the user's function, not this

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        import cloudpickle

        return cloudpickle.loads, (self.payload,)


def given_path(path: str | Path, root: Path) -> Path:
    """A path a user typed, inside the project: relative to the working directory as a shell
    means it (`--from pilot.ipynb` in notebooks/), else to the root as specs and docs name
    notebooks (`notebooks/pilot.ipynb` from any folder)."""
    here = Path(path).expanduser()
    if not here.is_absolute() and (Path.cwd() / here).exists():
        here = Path.cwd() / here
    return project_path(here, root)


def project_path(path: str | Path, root: Path) -> Path:
    """`path` resolved, and checked to lie inside the project: specs name notebooks relative
    to the project root so they run the same from any clone."""
    resolved = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(f"{resolved} is outside the project {root}; pipelines run notebooks "
                          "from the project only: copy it in")
    return resolved
