"""Read the embedded SQLite store without MLflow: the read commands answer in a fraction of a
second instead of paying `import mlflow` (~2.7 s here) and its schema check on every start.

`FastReadClient` answers the reads that `workbench runs`, `history` and `pipeline list` make
(experiment by name, run searches on tag equality and status, registered-model tags, local
artifacts) with the same SQL MLflow's SqlAlchemyStore sends, so rows come back in the same
order. Everything else, and any search it does not know, goes to a real MlflowClient, made on
first need: writes, and reads of a store this module does not recognise, behave as before.

It is used only when the store's schema revision is one whose tables these queries were
written for and equals the installed MLflow's own head (else MLflow would refuse the store,
or has migrated it to tables this module has not seen).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

# Schema revisions (alembic heads) whose runs, tags, latest_metrics and registry tables the
# queries below match. A test checks the installed MLflow's head is listed.
KNOWN_SCHEMAS = frozenset({"dc11669786a5"})
WORKSPACE = "default"  # MLflow's registry rows live in a workspace; no workspace set: default
BUSY_TIMEOUT_S = 20.0  # as MLflow's own busy_timeout: wait for a writer, do not fail

_TAG_EQ = re.compile(r"^tags\.`([^`]+)` = (?:'([^']*)'|\"([^\"]*)\")$")
_STATUS_EQ = re.compile(r"^attributes\.status = '([A-Z]+)'$")


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    run_name: str | None
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    tags: dict[str, str]


def installed_head() -> str | None:
    """The schema head of the installed MLflow, read from its migration scripts (no import)."""
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(next(iter(spec.submodule_search_locations))) / "store" / "db_migrations" \
        / "versions"
    return _head_of(str(versions))


@lru_cache(maxsize=4)
def _head_of(versions: str) -> str | None:
    revisions, parents = set(), set()
    for script in Path(versions).glob("*.py"):
        text = script.read_text(encoding="utf-8")
        found = re.search(r'^revision = "(\w+)"', text, re.M)
        if found:
            revisions.add(found.group(1))
        down = re.search(r"^down_revision = (.+)$", text, re.M)
        if down:
            parents.update(re.findall(r"\w{6,}", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def open_fast(tracking_uri: str) -> FastReadClient | None:
    """A FastReadClient on the SQLite store at `tracking_uri`, or None when MLflow must read it:
    not an existing local SQLite file, a workspace selected, or a schema revision not known."""
    if not tracking_uri.startswith("sqlite:///") or "?" in tracking_uri:
        return None
    if any(name.startswith("MLFLOW_WORKSPACE") for name in os.environ):
        return None
    path = Path(tracking_uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return None  # a new store: MLflow creates it, as every command always did
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    revision = row[0] if row else None
    if revision not in KNOWN_SCHEMAS or revision != installed_head():
        connection.close()
        return None
    return FastReadClient(tracking_uri, connection)


class FastReadClient:
    """The MlflowClient reads the read commands make, served from SQLite opened read-only;
    any other attribute is the real MlflowClient's (created on first use)."""

    def __init__(self, tracking_uri: str, connection: sqlite3.Connection) -> None:
        self.tracking_uri = tracking_uri
        self._db = connection
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mlflow(), name)

    def _mlflow(self) -> Any:
        if self._real is None:
            from workbench.tracking.store import tracking_client

            self._real = tracking_client(self.tracking_uri)
        return self._real

    # -- experiments and runs -----------------------------------------------------------------
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        row = self._db.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments "
            "WHERE name = ? AND lifecycle_stage IN ('active', 'deleted')", (name,)).fetchone()
        return None if row is None else Experiment(str(row[0]), row[1], row[2] or "", row[3])

    def search_runs(self, experiment_ids: list[str], filter_string: str = "",
                    max_results: int = 1000, order_by: list[str] | None = None,
                    **rest: Any) -> list[Run]:
        """Active runs, newest first, filtered on tag equality and status joined by `and`;
        any other search is MLflow's."""
        tags, status = _parse_filter(filter_string)
        known_order = order_by in (None, [], ["attributes.start_time DESC"])
        if tags is None or rest or not known_order:
            return list(self._mlflow().search_runs(experiment_ids, filter_string=filter_string,
                                                   max_results=max_results, order_by=order_by,
                                                   **rest))
        return self._with_data(self._run_infos(experiment_ids, tags, status, max_results, 0))

    def search_runs_page(self, experiment_ids: list[str], filter_string: str, max_results: int,
                         offset: int) -> tuple[list[Run], bool] | None:
        """Active runs, newest first, `max_results` from `offset`, and whether more follow;
        None for a filter this module does not read (MLflow's search serves it then)."""
        tags, status = _parse_filter(filter_string)
        if tags is None:
            return None
        infos = self._run_infos(experiment_ids, tags, status, max_results + 1, offset)
        return self._with_data(infos[:max_results]), len(infos) > max_results

    def _run_infos(self, experiment_ids: list[str], tags: list[tuple[str, str]],
                   status: str | None, limit: int, offset: int) -> list[RunInfo]:
        joins: list[str] = []
        args: list[Any] = []
        for index, (key, value) in enumerate(tags):
            joins.append(f"JOIN (SELECT tags.run_uuid AS run_uuid FROM tags WHERE tags.\"key\" "
                         f"= ? AND tags.value = ?) AS anon_{index} ON runs.run_uuid = "
                         f"anon_{index}.run_uuid")
            args += [key, value]
        ids = [int(i) for i in experiment_ids]
        where = [f"runs.experiment_id IN ({', '.join('?' * len(ids))})",
                 "runs.lifecycle_stage IN ('active')"]
        args += ids
        if status is not None:
            where.append("runs.status = ?")
            args.append(status)
        rows = self._db.execute(
            "SELECT DISTINCT runs.run_uuid, runs.name, runs.experiment_id, runs.status, "
            "runs.start_time, runs.end_time, runs.lifecycle_stage, runs.artifact_uri, "
            "CASE WHEN (runs.start_time IS NULL) THEN 1 ELSE 0 END AS clause_1 "
            f"FROM runs {' '.join(joins)} WHERE {' AND '.join(where)} "
            "ORDER BY clause_1, runs.start_time DESC, runs.run_uuid LIMIT ? OFFSET ?",
            (*args, int(limit), int(offset))).fetchall()
        return [RunInfo(r[0], r[1], str(r[2]), r[3], r[4], r[5], r[6], r[7] or "")
                for r in rows]

    def _with_data(self, infos: list[RunInfo]) -> list[Run]:
        """Tags, params and latest metrics of `infos`, each in the order MLflow reads them."""
        if not infos:
            return []
        ids = [i.run_id for i in infos]
        marks = ", ".join("?" * len(ids))
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        for run, key, value in self._db.execute(
                f'SELECT tags.run_uuid, tags."key", tags.value FROM tags WHERE tags.run_uuid '
                f"IN ({marks})", ids):
            tags[run][key] = value
        for run, key, value in self._db.execute(
                f'SELECT params.run_uuid, params."key", params.value FROM params WHERE '
                f"params.run_uuid IN ({marks})", ids):
            params[run][key] = value
        # the columns MLflow selects, so SQLite picks the same plan and the same row order
        for run, key, value, _, _, is_nan in self._db.execute(
                f'SELECT latest_metrics.run_uuid, latest_metrics."key", latest_metrics.value, '
                f"latest_metrics.timestamp, latest_metrics.step, latest_metrics.is_nan FROM "
                f"latest_metrics WHERE latest_metrics.run_uuid IN ({marks})", ids):
            metrics[run][key] = float("nan") if is_nan else float(value)
        return [Run(i, RunData(metrics[i.run_id], params[i.run_id], tags[i.run_id]))
                for i in infos]

    # -- the registry -------------------------------------------------------------------------
    def get_registered_model(self, name: str) -> RegisteredModel:
        found = self._db.execute("SELECT 1 FROM registered_models WHERE workspace = ? AND "
                                 "name = ?", (WORKSPACE, name)).fetchone()
        if found is None:
            return self._mlflow().get_registered_model(name)  # raises MLflow's not-found
        rows = self._db.execute('SELECT "key", value FROM registered_model_tags WHERE '
                                "workspace = ? AND name = ?", (WORKSPACE, name)).fetchall()
        return RegisteredModel(name, {key: value for key, value in rows})

    # -- artifacts ----------------------------------------------------------------------------
    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """A run's artifact from a local artifact root, copied to `dst_path`; MLflow fetches
        it from any other root."""
        row = self._db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?",
                               (run_id,)).fetchone()
        root = _local_path(row[0]) if row and row[0] else None
        if root is None:
            return str(self._mlflow().download_artifacts(run_id, path, dst_path))
        source = root / path
        if not source.is_file():
            raise FileNotFoundError(f"no artifact {path} in run {run_id}")
        if dst_path is None:
            return str(source)
        target = Path(dst_path) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)


def _parse_filter(text: str) -> tuple[list[tuple[str, str]] | None, str | None]:
    """(tag equalities, status) of `a and b and ...`, or (None, None) for any other filter."""
    tags: list[tuple[str, str]] = []
    status = None
    for clause in (c.strip() for c in text.split(" and ")) if text.strip() else ():
        tag, state = _TAG_EQ.match(clause), _STATUS_EQ.match(clause)
        if tag:
            tags.append((tag.group(1), tag.group(2) if tag.group(2) is not None
                         else tag.group(3)))
        elif state and status is None:
            status = state.group(1)
        else:
            return None, None
    return tags, status


def _local_path(uri: str) -> Path | None:
    """The directory of a local artifact URI (file:// or a plain path), else None."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(urllib.request.url2pathname(parts.path))
    if not parts.scheme and uri.startswith("/"):
        return Path(uri)
    return None
