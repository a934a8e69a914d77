"""Where things live: the embedded defaults and the environment variables that override them.

Read on every call (no caching) so tests and notebooks can change the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.project import HOME_DIR, find_project

DEFAULT_EXPERIMENT = "workbench"


@dataclass(frozen=True)
class Settings:
    home: Path
    tracking_uri: str
    artifact_root: str | None  # None: let the tracking server decide
    scheduler: str | None  # None: start a local cluster

    @property
    def embedded_store(self) -> bool:
        return self.tracking_uri.startswith("sqlite:")


def project_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The project whose `pipelines/`, notebooks and store are meant: `root`, else the one
    found from the working directory (`WORKBENCH_PROJECT`, which `workbench lab` sets for its
    kernels, else the nearest marked folder up, else the git root; see workbench.project)."""
    return Path(root).resolve() if root else find_project().root


def settings() -> Settings:
    """The store defaults to the project's `.workbench`, wherever in the project one stands:
    a command run from `notebooks/` uses the same store as one run from the root."""
    configured = os.environ.get("WORKBENCH_HOME")
    home = (Path(configured).expanduser() if configured else project_root() / HOME_DIR
            ).resolve()
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    artifact_root = os.environ.get("WORKBENCH_ARTIFACT_ROOT")
    if artifact_root is None and tracking_uri.startswith("sqlite:"):
        artifact_root = (home / "artifacts").as_uri()
    scheduler = os.environ.get("WORKBENCH_SCHEDULER") or None
    return Settings(home=home, tracking_uri=tracking_uri, artifact_root=artifact_root,
                    scheduler=scheduler)


HOME_GITIGNORE = "# made by workbench: its store, artifacts and logs are not source\n*\n"


def make_home(home: Path) -> None:
    """Create the store's folder. One workbench creates keeps itself out of git (as .venv and
    .pytest_cache do): `git add -A` never commits the store, so its writes never make a run's
    code look dirty."""
    if home.is_dir():
        return
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitignore").write_text(HOME_GITIGNORE)


def require_shared_store(work: str) -> None:
    """Refuse before anything runs when a remote cluster would write to a local SQLite file:
    its workers record runs themselves and cannot reach this machine's disk."""
    from workbench.errors import ConfigError

    current = settings()
    if current.scheduler and current.embedded_store and not _on_this_host(current.scheduler):
        raise ConfigError(
            f"WORKBENCH_SCHEDULER={current.scheduler} runs {work} on workers that cannot reach "
            f"the local SQLite store {current.tracking_uri}; set MLFLOW_TRACKING_URI to a "
            "tracking server (e.g. from `workbench services up --json`)")


def seconds_from_env(variable: str, default: float) -> float:
    """A positive number of seconds from the environment, else `default`; a bad value is a
    one-line error naming the variable."""
    from workbench.errors import ConfigError

    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{variable}={raw!r} is not a positive number of seconds; fix or "
                          "unset it")
    return value


def _on_this_host(address: str) -> bool:
    """A scheduler on loopback has its workers here too (a pipeline's kernels are handed the
    local cluster's address this way): they reach the local file."""
    from urllib.parse import urlsplit

    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def mlflow_ui() -> str | None:
    """Where people open runs in the MLflow UI: WORKBENCH_MLFLOW_UI, else the tracking server
    itself (it serves the UI), without credentials; None for the embedded store."""
    from urllib.parse import urlsplit, urlunsplit

    configured = os.environ.get("WORKBENCH_MLFLOW_UI") or settings().tracking_uri
    parts = urlsplit(configured)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def run_url(run_id: str) -> str | None:
    """The run's page in the MLflow UI (its direct route, which finds the experiment)."""
    from urllib.parse import quote

    ui = mlflow_ui()
    return f"{ui}/#/runs/{quote(run_id, safe='')}" if ui else None
