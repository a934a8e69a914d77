"""`make setup` leaves the extension installed and enabled, frontend and server both."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

JUPYTER = str(Path(sys.executable).with_name("jupyter"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def listed(*args: str) -> str:
    done = subprocess.run([JUPYTER, *args], capture_output=True, text=True, timeout=120)
    return ANSI.sub("", done.stdout + done.stderr)


def test_jupyterlab_lists_the_frontend_enabled_and_built() -> None:
    assert re.search(r"workbench-lab v0\.1\.0 enabled\s+OK", listed("labextension", "list"))


def test_jupyter_server_lists_the_api_enabled() -> None:
    said = listed("server", "extension", "list")
    assert re.search(r"workbench_lab enabled", said)
    assert re.search(r"workbench_lab 0\.1\.0\s+OK", said)
