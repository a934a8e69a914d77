"""Which folder is the project, and why, from anywhere inside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workbench.config import settings
from workbench.errors import ConfigError
from workbench.project import find_project


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("WORKBENCH_PROJECT", "WORKBENCH_HOME", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_nearest_marked_folder_up_is_the_project(tmp_path: Path,
                                                     clean: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    deep = root / "notebooks" / "drafts"
    deep.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert find_project(deep).reason.startswith("git root")
    assert find_project(deep).root == root.resolve()

    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")  # no workbench section
    assert find_project(deep).reason.startswith("git root")
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n\n[tool.workbench]\n")
    assert find_project(deep).reason == "holds [tool.workbench] in pyproject.toml"

    (root / "notebooks" / "pipelines").mkdir()
    (root / "notebooks" / "pipelines" / "__init__.py").write_text("")  # a package: code
    assert find_project(deep).root == root.resolve()
    (root / "notebooks" / "pipelines" / "__init__.py").unlink()  # now a specs folder
    assert find_project(deep).root == (root / "notebooks").resolve()


def test_the_store_is_the_roots_from_every_subfolder(tmp_path: Path,
                                                     clean: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "notebooks").mkdir()
    clean.chdir(root / "notebooks")
    assert settings().home == (root / ".workbench").resolve()
    assert settings().tracking_uri == f"sqlite:///{(root / '.workbench' / 'mlflow.db').resolve()}"


def test_the_walk_stays_inside_the_git_repository(tmp_path: Path,
                                                  clean: pytest.MonkeyPatch) -> None:
    (tmp_path / "pipelines").mkdir()  # an outer project
    inner = tmp_path / "vendor" / "lib"
    (inner / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(inner)], check=True)
    assert find_project(inner / "src").root == inner.resolve()  # never the outer project


def test_workbench_project_overrides_and_a_wrong_one_is_one_line(
        tmp_path: Path, clean: pytest.MonkeyPatch) -> None:
    clean.setenv("WORKBENCH_PROJECT", str(tmp_path))
    assert find_project(Path("/")).root == tmp_path.resolve()
    clean.setenv("WORKBENCH_PROJECT", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"^WORKBENCH_PROJECT=.*missing is not a folder; "):
        settings()


def test_doctor_warns_of_a_stray_store_in_a_subfolder(tmp_path: Path,
                                                      clean: pytest.MonkeyPatch) -> None:
    from workbench.doctor import run_checks

    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "notebooks" / ".workbench").mkdir(parents=True)  # what older versions left there
    clean.chdir(root / "notebooks")
    project = [f for f in run_checks(connect=False) if f.check == "project"]
    assert [f.status for f in project] == ["ok", "warn"]
    assert project[1].detail == (f"{root / 'notebooks' / '.workbench'} makes "
                                 f"{root / 'notebooks'} a project inside {root} "
                                 "(holds pipelines/)")
    assert project[1].fix.endswith(f"remove {root / 'notebooks' / '.workbench'}")
