"""`workbench lab`: JupyterLab on this project, bound to 127.0.0.1, optionally with the
pipeline scheduler running beside it for as long as Lab runs."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workbench.errors import ConfigError
from workbench.project import python_path
from workbench.service import serve


def lab(root: Path, *, port: int = 8888, address: str = "127.0.0.1",
        with_scheduler: bool = False, open_browser: bool = True, allow_root: bool = False,
        extra_args: Sequence[str] = (), say: Callable[[str], None] = print) -> int:
    """Run JupyterLab until it exits; returns its exit code.

    Authentication is Jupyter's own (a token, or `JUPYTER_TOKEN`); it is never turned off here.
    Jupyter refuses to run as root unless told to; that consent stays the user's to give
    (`--allow-root`, as containers need), and its absence is one line, before anything starts.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigError("JupyterLab is not installed: pip install 'workbench[notebook]'")
    allow_root = allow_root or "--allow-root" in extra_args
    if _is_root() and not allow_root:
        raise ConfigError("JupyterLab refuses to run as root (as in many containers); pass "
                          "--allow-root if you mean it, or run as another user")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={address}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={root}", *([] if open_browser else ["--no-browser"]),
               *(["--allow-root"] if allow_root else []),
               *[a for a in extra_args if a != "--allow-root"]]
    # Kernels start in the notebook's folder: the project root on their path lets a notebook
    # in notebooks/ import the project's modules, as a pipeline step and the CLI do.
    return serve(command, root, with_scheduler=with_scheduler, say=say,
                 env={"PYTHONPATH": python_path(root)})


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
