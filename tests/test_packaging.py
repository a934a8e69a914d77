"""What `pip install .` installs: every package of the core and of the dashboards (apps/, as
`workbench_apps`), so a plain install, not only an editable one from a clone, serves every page."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"workbench": REPO / "workbench", "workbench_apps": REPO / "apps"}


def _listed() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return list(config["packages"])


def test_every_package_folder_is_listed() -> None:
    found = {".".join([name, *init.parent.relative_to(folder).parts])
             for name, folder in FOLDERS.items() for init in folder.rglob("__init__.py")}
    assert found == set(_listed())


@pytest.mark.timeout(300)
def test_the_wheel_holds_the_core_and_every_app(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: a build writes build/ and *.egg-info beside it
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=240)
    [wheel] = tmp_path.glob("workbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    apps = [p for p in (REPO / "apps").iterdir() if (p / "main.py").is_file()]
    assert apps
    for app in apps:
        for part in ("main.py", "data_store.py", "views.py"):
            assert f"workbench_apps/{app.name}/{part}" in names
    assert {f"workbench_apps/pages/{page}.html" for page in ("login", "logout", "not_found")
            } <= names
    assert "workbench_apps/serve.py" in names  # `workbench dashboard` runs it
    assert "workbench/dashboard.py" in names
    assert not any(n.startswith(("apps/", "tests/")) for n in names)
