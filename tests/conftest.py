"""Shared fixtures: a fresh embedded MLflow store per test and one real 2-worker LocalCluster."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    if not hasattr(session.config, "workerinput"):  # the xdist controller (or a plain run)
        session.config.stash[_BEFORE] = _repo_leftovers()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite writes only to temp dirs: a file it leaves in the checkout (an `mlruns/` from
    an MLflow call that missed the configured store, say) fails the run."""
    before = session.config.stash.get(_BEFORE, None)
    if before is None or session.config.option.collectonly:
        return
    left = sorted(_repo_leftovers() - before)
    if left:
        session.config.stash[_LEFT] = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    """Said after the counts, as the last line: a CI log's tail must show why the run failed."""
    left = config.stash.get(_LEFT, None)
    if left:
        sys.stderr.write(f"error: the tests left files in the checkout: {', '.join(left)}; "
                         "write them under a temp dir (tmp_path) instead\n")


_BEFORE = pytest.StashKey[set[str]]()
_LEFT = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if visible_gpus():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none is visible on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One new SQLite store, migrated by MLflow, for each test's store to start from."""
    from tests import stores

    stores.EMPTY_STORE = stores.make_empty_store(tmp_path_factory.mktemp("empty-store"))
    return stores.EMPTY_STORE


@pytest.fixture
def wb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            request: pytest.FixtureRequest) -> Iterator[Path]:
    """WORKBENCH_HOME in a temp dir: a new SQLite store and artifact root for this test.

    The store is a copy of one MLflow made (its migrations cost ~2.5 s of CPU per new store,
    a tenth of the suite); `@pytest.mark.no_store` leaves it to the test to create, or not."""
    from tests.stores import seed_store

    home = tmp_path / "wb"
    if request.node.get_closest_marker("no_store") is None:
        seed_store(request.getfixturevalue("_empty_store"), home)
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
def services_stack() -> Iterator[tuple[Path, dict[str, str]]]:
    """The services stack of `workbench services up` for the session: PostgreSQL, a tracking
    server on it with basic auth and proxied artifacts, a scheduler and 2 worker processes;
    (the home that holds it, the environment that selects it)."""
    import tempfile

    from tests.service_stack import running_services

    # data gates in the tests read files under the temp folder
    with running_services(workers=2, extra=("--data-root", tempfile.gettempdir())) as stack:
        yield stack


@pytest.fixture(scope="session")
def services_env(services_stack: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return services_stack[1]


def _speak_as_named_people(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """On the governing services, the person a test names as approver acts with a login of
    their own (the server refuses a name that is not the caller's login): see `login_for`."""
    from tests.stores import login_for
    from workbench.governance import remote
    from workbench.governance.login import acting_as

    original = remote.GovernanceServer.call

    def call(self: remote.GovernanceServer, method: str, route: str,
             body: dict[str, Any] | None = None) -> Any:
        name = (body or {}).get("approver")
        if not name:
            return original(self, method, route, body)
        login, password = login_for(env, str(name))
        with acting_as(login, password):
            return original(self, method, route, {**(body or {}), "approver": login})

    monkeypatch.setattr(remote.GovernanceServer, "call", call)


@pytest.fixture(params=["embedded", "services"])
def store(request: pytest.FixtureRequest, wb_home: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Store:
    """Each test twice: on the embedded SQLite store and on the services' tracking server
    (PostgreSQL behind it, basic auth in front)."""
    if request.param == "embedded":
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}",
               "WORKBENCH_ARTIFACT_ROOT": (tmp_path / "shared" / "artifacts").as_uri()}
        from tests.stores import seed_store

        seed_store(request.getfixturevalue("_empty_store"), tmp_path / "shared")
    else:
        services = request.getfixturevalue("services_env")
        env = {k: v for k, v in services.items() if k.startswith("MLFLOW_")}
        _speak_as_named_people(monkeypatch, env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Store(request.param, env, tmp_path)


@dataclass(frozen=True)
class Lifecycle:
    """Where a lifecycle test runs: its kind, the MlflowClient on its store, and the
    environment a `workbench` command needs to use the same store and cluster."""

    kind: str  # "embedded" | "services"
    tracking: Any
    env: dict[str, str]
    services_home: Path | None = None

    def login(self, person: str) -> dict[str, str]:
        """The environment of `person`'s own session: on the services, their own tracking
        login (four eyes need two); the embedded store has no logins."""
        if self.services_home is None:
            return self.env
        import json
        import uuid

        from tests.service_stack import services

        done = services(self.services_home, "add-user", f"{person}-{uuid.uuid4().hex[:6]}",
                        "--json")
        assert done.returncode == 0, done.stderr
        return {**self.env, **json.loads(done.stdout)["env"]}


@pytest.fixture(params=["embedded", "services"])
def lifecycle(request: pytest.FixtureRequest, wb_home: Path,
              monkeypatch: pytest.MonkeyPatch) -> Lifecycle:
    """The same test on the embedded defaults (SQLite, the session's LocalCluster) and on the
    services (PostgreSQL behind a tracking server with basic auth, a scheduler with 2 worker
    processes), with no code change: only the environment differs."""
    from workbench.tracking.store import tracking_client

    if request.param == "embedded":
        client = request.getfixturevalue("dask_client")
        return Lifecycle("embedded", tracking_client(),
                         {"WORKBENCH_SCHEDULER": client.scheduler.address})  # type: ignore[attr-defined]
    home, env = request.getfixturevalue("services_stack")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _speak_as_named_people(monkeypatch, dict(env))
    return Lifecycle("services", tracking_client(), dict(env), home)
