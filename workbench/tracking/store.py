"""Connect to the tracking store (embedded SQLite by default) and make experiments."""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from workbench.config import DEFAULT_EXPERIMENT, make_home, settings
from workbench.errors import UnreachableError

if TYPE_CHECKING:
    from mlflow import MlflowClient

_QUIET = ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent", "mlflow.models.model",
          "mlflow.tracking._model_registry.fluent")


def quiet_mlflow() -> None:
    """Silence MLflow's start-up chatter (schema migrations, 'View run at ...')."""
    import os

    # A REST store's client prints "View run ... at" on stdout, which is for --json output.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s]*@")


def display_uri(text: str) -> str:
    """`text` (a URI, or a message holding some) with every password shown as `***`, and no
    value of MLflow's credential variables."""
    import os

    text = _CREDENTIALS.sub(r"\1:***@", text)
    for name in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        secret = os.environ.get(name, "")
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def check_reachable(tracking_uri: str, timeout: float = 3.0) -> None:
    """Fail fast with a one-line reason when a tracking server is down."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read(64)
    except urllib.error.HTTPError:
        return  # it answered: the server is up, /health may just be routed differently
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnreachableError(
            f"cannot reach the MLflow tracking server at {display_uri(tracking_uri)} ({reason}); "
            "start it, or "
            "unset MLFLOW_TRACKING_URI to use the embedded SQLite store"
        ) from None


def tracking_client(tracking_uri: str | None = None,
                    auth: dict[str, str] | None = None) -> MlflowClient:
    """An MlflowClient on the configured store; also points MLflow's fluent API at it.
    `auth`: the login of whoever submitted this work, on a worker (tracking.credentials)."""
    import mlflow

    from workbench.tracking.credentials import adopt

    adopt(auth)
    quiet_mlflow()
    uri = tracking_uri or settings().tracking_uri
    check_reachable(uri)
    if uri.startswith("sqlite:///"):
        _create_sqlite_once(uri)
    mlflow.set_tracking_uri(uri)
    return _client(uri)


def registry_writes(client: MlflowClient) -> Any:
    """Where registry and lease writes go: MLflow's registry client. MlflowClient's own write
    methods first load the whole model (every tag: the history is tags) to refuse prompts,
    a ~20 ms read before each of a promotion's many small writes; workbench reads each model
    once per write path, and that read (`get_registered_model`) already hides prompts.
    Falls back to the client where the private accessor is gone (constraints.txt pins it)."""
    registry = getattr(client, "_get_registry_client", None)
    return registry() if callable(registry) else client


def read_client(tracking_uri: str | None = None) -> MlflowClient:
    """A client for code that only reads: on the embedded store, one that answers the common
    reads from the SQLite file opened read-only, without importing MLflow or checking its
    schema migrations (workbench.tracking.fast_read); anything else is `tracking_client()`'s.
    It stands in for an MlflowClient: what it does not serve itself it hands to a real one."""
    from workbench.tracking.fast_read import open_fast

    uri = tracking_uri or settings().tracking_uri
    fast = open_fast(uri)
    return cast("MlflowClient", fast) if fast is not None else tracking_client(uri)


def _create_sqlite_once(uri: str) -> None:
    """Create a new SQLite store under a file lock: processes that first touch the same new
    file would otherwise race through MLflow's schema migrations and fail."""
    import fcntl

    if uri in _READY:
        return
    path = Path(uri.removeprefix("sqlite:///")).resolve()
    current = settings()
    # Only the home that holds this store is made: a dask worker handed a store elsewhere
    # must not leave a `.workbench/` in its own working folder.
    if path.parent == current.home:
        make_home(current.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".init-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        new = not path.exists() or path.stat().st_size == 0
        _client(uri).search_experiments(max_results=1)  # runs the migrations
        if new and current.artifact_root and path.parent == current.home:
            _keep_default_experiment_in_home(path, current.artifact_root)
    _READY.add(uri)


def _keep_default_experiment_in_home(path: Path, artifact_root: str) -> None:
    """MLflow files the Default experiment's artifacts under `./mlruns` of whichever folder
    first opened the store; plain `mlflow.start_run()` from a notebook would then write
    `notebooks/mlruns/`. A store workbench creates keeps them under its artifact root."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                   (f"{artifact_root}/0",))
    db.close()


_READY: set[str] = set()


@lru_cache(maxsize=8)
def _client(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, name: str | None = None) -> str:
    """The id of experiment `name`, created with an artifact root under $WORKBENCH_HOME."""
    name = name or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    root = settings().artifact_root
    location = f"{root}/{_slug(name)}" if root else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:
        # Another process created it between our lookup and create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"


def filter_literal(value: str) -> str:
    """`value` as a string literal in an MLflow search filter (which has no escapes)."""
    from workbench.errors import ConfigError

    if '"' in value and "'" in value:
        raise ConfigError(f"name {value!r} has both quote characters; MLflow cannot search "
                          "for it: rename it")
    return f'"{value}"' if "'" in value else f"'{value}'"


def log_params(client: MlflowClient, run_id: str, values: Mapping[str, Any]) -> None:
    """Params in batches of 100 (MLflow's limit), values cut to MLflow's 6000 characters."""
    from mlflow.entities import Param

    items = [Param(str(k), str(v)[:6000]) for k, v in values.items()]
    for start in range(0, len(items), 100):
        client.log_batch(run_id, params=items[start:start + 100])
