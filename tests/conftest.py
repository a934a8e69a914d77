"""Shared fixtures: a fresh embedded MLflow store per test and one real 2-worker LocalCluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores import Store
from workbench.gpu import visible_gpus

REPO = Path(__file__).resolve().parents[1]
_CACHES = ("__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".egg-info")


def _repo_leftovers() -> set[str]:
    """Untracked and ignored paths in the checkout (caches aside)."""
    import subprocess

    done = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return set()
    return {line[3:] for line in done.stdout.splitlines()
            if line[:2] in ("??", "!!") and not any(c in line for c in _CACHES)}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _repo_leftovers()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite writes only to temp dirs: a file it leaves in the checkout (an `mlruns/` from
    an MLflow call that missed the configured store, say) fails the run."""
    before = session.config.stash.get(_BEFORE, None)
    if before is None or session.config.option.collectonly:
        return
    left = sorted(_repo_leftovers() - before)
    if left:
        session.config.get_terminal_writer().line(
            f"error: the tests left files in the checkout: {', '.join(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if visible_gpus():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def wb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """WORKBENCH_HOME in a temp dir: a new SQLite store and artifact root for this test."""
    home = tmp_path / "wb"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    for name in ("MLFLOW_TRACKING_URI", "WORKBENCH_SCHEDULER", "WORKBENCH_ARTIFACT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    yield home
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        mlflow.end_run()
        pytest.fail(f"test left MLflow run {active.info.run_id} active")


@pytest.fixture(scope="session")
def _local_cluster() -> Iterator[None]:
    """A real LocalCluster with 2 single-threaded worker processes, for the session."""
    saved = os.environ.pop("WORKBENCH_SCHEDULER", None)
    import workbench as wb
    from workbench.dask_cluster import shutdown

    wb.cluster(n_workers=2)
    yield
    shutdown()
    if saved is not None:
        os.environ["WORKBENCH_SCHEDULER"] = saved


@pytest.fixture
def dask_client(_local_cluster: None) -> object:
    """The live client on the 2-worker cluster: started again if a test before this one
    pointed WORKBENCH_SCHEDULER elsewhere (wb.cluster then closed the shared one)."""
    import workbench as wb

    return wb.cluster(n_workers=2)


@pytest.fixture
def tracking(wb_home: Path, dask_client: object):  # type: ignore[no-untyped-def]
    """An MlflowClient on this test's store, with the shared cluster running."""
    from workbench.tracking.store import tracking_client

    return tracking_client()


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `mlflow server` process on loopback for the session (a REST store)."""
    from tests.stores import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, wb_home: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each test twice: on the embedded SQLite store and on a real tracking server."""
    if request.param == "embedded":
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}",
               "WORKBENCH_ARTIFACT_ROOT": (tmp_path / "shared" / "artifacts").as_uri()}
        (tmp_path / "shared").mkdir()
    else:
        env = {"MLFLOW_TRACKING_URI": request.getfixturevalue("tracking_server")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Store(request.param, env, tmp_path)
