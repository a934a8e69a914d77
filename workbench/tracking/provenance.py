"""What made a run: the user's code (its file and hash), the git state of the project holding
it, the notebook that launched it, and the exact environment."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import platform
import re
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.tracking.code_hash import code_sha256, text_sha256
from workbench.tracking.git_tree import GitState, read_git_state

COMMAND_LINE = "<command line>"  # `python -c CODE`: hashed from CODE
STDIN = "<stdin>"  # code piped to python or typed at its prompt: nothing left to hash
_WORKBENCH = Path(__file__).resolve().parents[1]


def notebook_path() -> str | None:
    """The notebook or script the user is running, never `ipykernel_launcher.py` or an
    installed command such as `workbench` itself.

    Order: our own variable (set by pipeline runs), Jupyter's session name, VS Code's variable,
    marimo's notebook file, then the script on the command line.
    """
    explicit = os.environ.get("WORKBENCH_NOTEBOOK")
    if explicit:
        return str(Path(explicit).resolve())
    session = os.environ.get("JPY_SESSION_NAME", "")  # jupyter_server: the notebook's OS path
    if session.endswith((".ipynb", ".py")):
        return str(Path(session).expanduser().resolve())
    ipython_ns = _ipython_user_ns()
    for key in ("__vsc_ipynb_file__", "__session__"):
        value = ipython_ns.get(key)
        if isinstance(value, str) and value.endswith((".ipynb", ".py")):
            return str(Path(value).resolve())
    marimo_file = _marimo_notebook()
    if marimo_file:
        return marimo_file
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and "ipykernel" not in argv0 and not argv0.endswith(("-c", "pytest", "__main__.py")) \
            and not _installed_command(argv0):
        return str(Path(argv0).resolve())
    return None


def explicit_notebook() -> str | None:
    explicit = os.environ.get("WORKBENCH_NOTEBOOK")
    return str(Path(explicit).resolve()) if explicit else None


def _installed_command(argv0: str) -> bool:
    """A console script (`workbench`, `papermill`, ...): the tool that ran, not the user's code."""
    if Path(argv0).name == "workbench":
        return True
    folder = Path(argv0).resolve().parent
    scripts = {sysconfig.get_path("scripts"), sysconfig.get_path("scripts", f"{os.name}_user")}
    return any(path and Path(path).resolve() == folder for path in scripts)


def _ipython_user_ns() -> dict[str, object]:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return {}
    shell = ipython.get_ipython()
    return dict(getattr(shell, "user_ns", {}) or {})


def _marimo_notebook() -> str | None:
    if "marimo" not in sys.modules:
        return None
    try:
        import marimo

        if not marimo.running_in_notebook():
            return None
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        return str(Path(path).resolve()) if path else None
    except Exception:
        return None


@dataclass(frozen=True)
class CodeSource:
    """The code a run executed: a file (`name` is its absolute path) or inline code
    (`COMMAND_LINE`, `STDIN`). `sha256` is its identity hash: a notebook's cells only."""

    name: str
    sha256: str | None
    is_file: bool


def code_source(fn: Callable[..., Any] | str | None = None,
                launcher: str | None = None) -> CodeSource | None:
    """Where the code of `fn` lives. Its own file when it has one and it is the user's (not a
    kernel's cell, not workbench's built-in demo); else the notebook or script that launched
    it; else its file anyway; else the `python -c` code or standard input."""
    target = _unwrap(fn)
    file = _defining_file(target)
    from_main = getattr(target, "__module__", None) == "__main__"
    if file and not from_main and not _inside_workbench(file):
        return _file_source(file)
    if launcher:
        return _file_source(launcher)
    if file:
        return _file_source(file)
    return _inline_source()


def _unwrap(fn: Callable[..., Any] | str | None) -> Any:
    target: Any = fn
    if isinstance(fn, str):  # "module:function", already imported by the launch
        module_name, _, attr = fn.partition(":")
        try:
            module = sys.modules.get(module_name) or importlib.import_module(module_name)
        except Exception:
            return None
        target = getattr(module, attr, None)
    while isinstance(target, functools.partial):
        target = target.func
    try:
        return inspect.unwrap(target) if callable(target) else None
    except ValueError:  # a cycle of __wrapped__
        return target


def _defining_file(target: Any) -> str | None:
    """The file on disk defining `target`; None for `python -c`, stdin or a notebook cell."""
    if target is None:
        return None
    if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.ismethod(target)):
        target = type(target)  # a callable object: its class holds the code
    try:
        path = inspect.getsourcefile(target)
    except (TypeError, OSError):
        return None
    if not path or not os.path.isfile(path) or _kernel_cell(path):
        return None
    return str(Path(path).resolve())


def _kernel_cell(path: str) -> bool:
    """ipykernel and marimo compile cells under temporary names (written to disk for the
    debugger): the notebook, not that file, is the source."""
    return bool(re.search(r"(^|[\\/])ipykernel_\d+[\\/]", path)) \
        or Path(path).name.startswith("__marimo__cell_")


def _inside_workbench(path: str) -> bool:
    return Path(path).is_relative_to(_WORKBENCH)


def _file_source(path: str) -> CodeSource:
    digest = code_sha256(path)
    pinned = os.environ.get("WORKBENCH_NOTEBOOK_SHA256")  # set by a pipeline step
    if pinned and explicit_notebook() == path and file_sha256(path) != pinned:
        digest = None  # edited since the step read it: this hash would name code that never ran
    return CodeSource(name=path, sha256=digest, is_file=True)


def _inline_source() -> CodeSource | None:
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 == "-c":
        code = _command_line_code()
        return CodeSource(COMMAND_LINE, text_sha256(code) if code is not None else None, False)
    if argv0 in ("", "-"):
        return CodeSource(STDIN, None, False)
    return None


def _command_line_code() -> str | None:
    """CODE of `python [options] -c CODE`, from the interpreter's original arguments."""
    args = iter(list(getattr(sys, "orig_argv", []))[1:])
    for arg in args:
        if arg == "-c":
            return next(args, None)
        if arg.startswith("-c"):
            return arg[2:]
        if arg in ("-W", "-X"):  # options whose value is the next argument
            next(args, None)
        elif not arg.startswith("-"):
            return None
    return None


def git_state(start: str | os.PathLike[str] | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding `start` (default: cwd); (None, None) if none.
    Dirty counts source only: a notebook whose cells equal HEAD's is clean."""
    state = read_git_state(start or os.getcwd())
    return state.commit, state.dirty


def project_git_state(source: CodeSource | None, root: str | os.PathLike[str] | None = None
                      ) -> GitState:
    """The repository holding the user's code file, else the project root's."""
    from workbench.config import project_root

    if source is not None and source.is_file:
        state = read_git_state(source.name, source=source.name)
        if state.commit:
            return state
    return read_git_state(project_root(root))


@lru_cache(maxsize=1)
def environment_lock() -> str:
    """Exact versions of every installed distribution, in requirements format."""
    pins = sorted(
        {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
         if d.metadata["Name"]},
        key=str.lower,
    )
    header = [
        f"# python {platform.python_version()} ({sys.implementation.name})",
        f"# platform {platform.platform()}",
    ]
    return "\n".join(header + pins) + "\n"


def run_tags(seed: int, fn: Callable[..., Any] | str | None = None,
             root: str | os.PathLike[str] | None = None,
             launcher: str | None = None) -> dict[str, str]:
    """MLflow tags recording where a run came from: the code of `fn` (or of the launching
    notebook or script), the git state of the project holding it, the launcher itself
    (`launcher`: a notebook run on someone's behalf, as Lab's "Run as job" does)."""
    launcher = launcher or notebook_path()
    source = code_source(fn, launcher)
    tags = {"workbench.seed": str(seed), "mlflow.user": _user()}
    if launcher:
        tags["workbench.notebook"] = launcher
        pinned = os.environ.get("WORKBENCH_NOTEBOOK_SHA256")  # set by a pipeline step
        digest = pinned if pinned and explicit_notebook() == launcher else file_sha256(launcher)
        if digest:  # the file as saved; workbench.source.sha256 is its outputs-free identity
            tags["workbench.notebook.sha256"] = digest
    if source:
        tags["mlflow.source.name"] = source.name
        tags["mlflow.source.type"] = "NOTEBOOK" if source.name.endswith(".ipynb") else "LOCAL"
        tags["workbench.source"] = source.name
        if source.sha256:
            tags["workbench.source.sha256"] = source.sha256
    for variable, tag in PIPELINE_CONTEXT.items():  # set by a pipeline step for its kernel
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    git = project_git_state(source, root)
    if git.commit:
        tags["mlflow.source.git.commit"] = git.commit
        tags["workbench.git.dirty"] = str(git.dirty).lower()
        if git.dirty_files:
            tags["workbench.git.dirty_files"] = git.dirty_summary()[:TAG_TEXT_LIMIT]
    return tags


TAG_TEXT_LIMIT = 1000
PIPELINE_CONTEXT = {"WORKBENCH_PIPELINE": "workbench.pipeline",
                    "WORKBENCH_PIPELINE_RUN": "workbench.pipeline_run",
                    "WORKBENCH_PIPELINE_STEP_RUN": "workbench.pipeline_step_run"}


def file_sha256(path: str) -> str | None:
    """The file's content hash as saved on disk (unsaved edits in a live kernel are not
    in it); None when it is not a readable file."""
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "unknown"
