"""`workbench lab`: JupyterLab on this project, bound to 127.0.0.1, optionally with the
pipeline scheduler running beside it for as long as Lab runs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workbench.errors import ConfigError
from workbench.service import serve


def lab(root: Path, *, port: int = 8888, address: str = "127.0.0.1",
        with_scheduler: bool = False, open_browser: bool = True,
        extra_args: Sequence[str] = (), say: Callable[[str], None] = print) -> int:
    """Run JupyterLab until it exits; returns its exit code.

    Authentication is Jupyter's own (a token, or `JUPYTER_TOKEN`); it is never turned off here.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigError("JupyterLab is not installed: pip install 'workbench[notebook]'")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={address}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={root}", *([] if open_browser else ["--no-browser"]),
               *extra_args]
    return serve(command, root, with_scheduler=with_scheduler, say=say)
