"""What made a run: git commit, the notebook that launched it, and the exact environment."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path


def notebook_path() -> str | None:
    """The notebook or script the user is running, never `ipykernel_launcher.py`.

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
    if argv0 and "ipykernel" not in argv0 and not argv0.endswith(("-c", "pytest", "__main__.py")):
        return str(Path(argv0).resolve())
    return None


def explicit_notebook() -> str | None:
    explicit = os.environ.get("WORKBENCH_NOTEBOOK")
    return str(Path(explicit).resolve()) if explicit else None


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


def git_state(start: str | os.PathLike[str] | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding `start` (default: cwd); (None, None) if none."""
    cwd = Path(start or os.getcwd())
    if cwd.is_file():
        cwd = cwd.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=5)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


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


def run_tags(seed: int) -> dict[str, str]:
    """MLflow tags recording where a run came from."""
    source = notebook_path()
    commit, dirty = git_state(source)
    tags = {"workbench.seed": str(seed), "mlflow.user": _user()}
    if source:
        tags["mlflow.source.name"] = source
        tags["workbench.notebook"] = source
        tags["mlflow.source.type"] = "NOTEBOOK" if source.endswith(".ipynb") else "LOCAL"
        pinned = os.environ.get("WORKBENCH_NOTEBOOK_SHA256")  # set by a pipeline step
        digest = pinned if pinned and explicit_notebook() == source else file_sha256(source)
        if digest:
            tags["workbench.notebook.sha256"] = digest
    for variable, tag in PIPELINE_CONTEXT.items():  # set by a pipeline step for its kernel
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["workbench.git.dirty"] = str(dirty).lower()
    return tags


PIPELINE_CONTEXT = {"WORKBENCH_PIPELINE": "workbench.pipeline",
                    "WORKBENCH_PIPELINE_RUN": "workbench.pipeline_run",
                    "WORKBENCH_PIPELINE_STEP_RUN": "workbench.pipeline_step_run"}


def file_sha256(path: str) -> str | None:
    """The notebook's content hash as saved on disk (unsaved edits in a live kernel are not
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
