"""`make setup` leaves the extension installed and enabled, frontend and server both; a wheel
built from a clean tree carries the built frontend and the config that enables the server half,
so its users need no Node.js."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JUPYTER = str(BIN / "jupyter")
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


@pytest.mark.timeout(240)
def test_a_wheel_from_a_clean_tree_holds_the_labextension_and_enables_the_server(
        tmp_path: Path) -> None:
    """The tracked files of extensions/ only (no node_modules, no built labextension): the
    build hook runs npm (from npm's cache, as `make setup` left it: no network) and the
    wheel puts the frontend where Lab looks and the server extension's config beside it."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the wheel's build hook builds the frontend with "
                    "npm (Node.js 20)")
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it into the venv)")
    source = tmp_path / "extensions"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "extensions"],
                             cwd=REPO, check=True, capture_output=True, text=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)
    assert not (source / "workbench_lab" / "labextension").exists()
    assert not (source / "node_modules").exists()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "npm_config_offline": "true", "npm_config_audit": "false",
           "npm_config_fund": "false"}
    try:
        done = subprocess.run([uv, "build", "--wheel", "--offline", str(source), "-o",
                               str(tmp_path / "dist")], env=env, capture_output=True,
                              text=True, timeout=220)
    finally:
        shutil.rmtree(source / "node_modules", ignore_errors=True)  # ~500 MB
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    [wheel] = (tmp_path / "dist").glob("workbench_lab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        data = next(n for n in names if n.endswith(".data/data/etc/jupyter/"
                                                   "jupyter_server_config.d/workbench_lab.json"))
        assert json.loads(archive.read(data)) == {
            "ServerApp": {"jpserver_extensions": {"workbench_lab": True}}}
        lab = data.split("etc/jupyter/")[0] + "share/jupyter/labextensions/workbench-lab/"
        package = json.loads(archive.read(lab + "package.json"))
    assert package["name"] == "workbench-lab"
    entries = [n for n in names if re.fullmatch(re.escape(lab) + r"static/remoteEntry\.\w+\.js",
                                                n)]
    assert len(entries) == 1
    assert lab + package["jupyterlab"]["_build"]["load"] == entries[0]  # what Lab loads
    assert lab + "static/style.js" in names
    assert lab + "schemas/workbench-lab/plugin.json" in names  # the settings
    assert "workbench_lab/handlers.py" in names and "workbench_lab/rest_api.yml" in names
