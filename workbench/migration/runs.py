"""Experiments, runs and logged models copied from one store to another, each part only when
the target lacks it, so an interrupted copy resumes where it stopped.

A run is created in the target first with only its source id (`migrated_from`), all of them
before any content, so parent-run tags and model links can name their new ids; its contents
follow, and `migration.complete` is set last. Both marks are on the copy itself: a re-run on
another host, with another WORKBENCH_HOME, finds them.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.migration.ids import IdMap
from workbench.tracking.migrated import COMPLETE_TAG, FROM_TAG

if TYPE_CHECKING:
    from mlflow import MlflowClient

MARKS = (FROM_TAG, COMPLETE_TAG)  # on the copies only: not part of what is compared
BATCH_METRICS, BATCH_PARAMS, BATCH_TAGS = 1000, 100, 100  # MLflow's log_batch limits
JOBS = 4  # runs copied at once into a tracking server


@dataclass
class Pair:
    """The two stores of a migration and what it learned of their ids."""

    source: MlflowClient
    target: MlflowClient
    source_uri: str
    target_uri: str
    say: Callable[[str], None]
    ids: IdMap = field(default_factory=IdMap)
    complete: set[str] = field(default_factory=set)  # source run ids copied whole before
    experiments: dict[str, str] = field(default_factory=dict)  # source -> target experiment
    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("experiments", "runs", "logged_models", "params", "tags", "metric_points",
         "artifacts", "registered_models", "model_versions"), 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, kind: str, n: int) -> None:
        """Runs are copied by several threads at once: their counts add up under a lock."""
        with self._lock:
            self.copied[kind] += n

    @property
    def jobs(self) -> int:
        """Runs copied and compared at once: a tracking server answers requests in parallel
        (each run is tens of small requests, each mostly waiting); SQLite takes one writer."""
        return JOBS if self.target_uri.startswith(("http://", "https://")) else 1


# --- reading -----------------------------------------------------------------------------------

def experiments(client: MlflowClient) -> list[Any]:
    """The active experiments, oldest first (deleted ones are not migrated)."""
    found, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda e: int(e.experiment_id)
                          if str(e.experiment_id).isdigit() else 0)


def runs_of(client: MlflowClient, experiment_ids: list[str], filter_string: str = "") -> list[Any]:
    """The active runs of `experiment_ids`, oldest first, all pages."""
    found: list[Any] = []
    token = None
    while experiment_ids:
        page = client.search_runs(experiment_ids, filter_string, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        found += list(page)
        token = page.token
        if not token:
            break
    return found


def logged_models(client: MlflowClient, experiment_ids: list[str]) -> list[Any]:
    found: list[Any] = []
    token = None
    while experiment_ids:
        page = client.search_logged_models(experiment_ids, max_results=100, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            break
    return found


def file_digests(folder: Path) -> dict[str, str]:
    """{path relative to `folder`: sha256} of every file below it."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def download_run(client: MlflowClient, run_id: str, into: Path) -> Path:
    """Every artifact of `run_id` under `into` (left empty when the run has none)."""
    into.mkdir(parents=True, exist_ok=True)
    if client.list_artifacts(run_id):
        client.download_artifacts(run_id, "", str(into))
    return into


def download_logged_model(uri: str, model: Any, into: Path) -> Path:
    """Every file of logged model `model` of the store at `uri` under `into` (its artifact
    location read through that store: `models:/` would resolve in MLflow's global store)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    into.mkdir(parents=True, exist_ok=True)
    repository = get_artifact_repository(model.artifact_location, tracking_uri=uri)
    if repository.list_artifacts():
        repository.download_artifacts("", str(into))
    return into


def points(client: MlflowClient, run_id: str, key: str) -> list[Any]:
    return list(client.get_metric_history(run_id, key))


def point_key(metric: Any) -> tuple[Any, ...]:
    return (metric.key, int(metric.step or 0), int(metric.timestamp or 0),
            repr(float(metric.value)))


def known_runs(client: MlflowClient) -> tuple[dict[str, str], set[str]]:
    """What earlier migrations into `client` copied: ({source id: target id}, the source ids
    copied whole)."""
    from mlflow.entities import ViewType

    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    mapped, complete, token = {}, set(), None
    while ids:
        page = client.search_runs(ids, f"tags.`{FROM_TAG}` LIKE '%'", ViewType.ALL,
                                  max_results=1000, page_token=token)
        for run in page:
            old = run.data.tags[FROM_TAG]
            mapped[old] = run.info.run_id
            if run.data.tags.get(COMPLETE_TAG) == "true":
                complete.add(old)
        token = page.token
        if not token:
            break
    return mapped, complete


def known_models(client: MlflowClient) -> dict[str, Any]:
    """The logged models earlier migrations into `client` copied, by their source id."""
    from mlflow.entities import ViewType

    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return {m.tags[FROM_TAG]: m for m in logged_models(client, ids) if FROM_TAG in m.tags}


# --- writing -----------------------------------------------------------------------------------

def ensure_experiment(pair: Pair, experiment: Any) -> str:
    """The target's experiment of the same name (made when missing), with the source's tags."""
    found = pair.target.get_experiment_by_name(experiment.name)
    if found is None:
        new = pair.target.create_experiment(experiment.name,
                                            artifact_location=_location(pair, experiment.name))
        found = pair.target.get_experiment(new)
        pair.count("experiments", 1)
    for key, value in experiment.tags.items():
        if found.tags.get(key) != value:
            pair.target.set_experiment_tag(found.experiment_id, key, value)
    pair.experiments[experiment.experiment_id] = found.experiment_id
    return str(found.experiment_id)


def _location(pair: Pair, name: str) -> str | None:
    """A tracking server puts artifacts where it serves them; a SQLite target beside its file."""
    if not pair.target_uri.startswith("sqlite:///"):
        return None
    from workbench.tracking.store import _slug

    folder = Path(pair.target_uri.removeprefix("sqlite:///")).resolve().parent
    return (folder / "artifacts" / _slug(name)).as_uri()


def ensure_runs(pair: Pair, runs: list[Any]) -> None:
    """A target run for each source run that has none yet: its name, start and source id."""
    for run in runs:
        if run.info.run_id in pair.ids.runs:
            continue
        created = pair.target.create_run(
            pair.experiments[run.info.experiment_id], start_time=run.info.start_time,
            tags={FROM_TAG: run.info.run_id}, run_name=run.info.run_name)
        pair.ids.runs[run.info.run_id] = created.info.run_id
        pair.count("runs", 1)


def copy_logged_model(pair: Pair, model: Any, known: dict[str, Any]) -> None:
    """A logged model (MLflow 3: what `log_model` writes, what versions point at) with its
    artifacts, finalized once they are all there; `known`: the target's copies by source id."""
    from mlflow.entities import LoggedModelStatus

    copy = known.get(model.model_id)
    if copy is not None and copy.tags.get(COMPLETE_TAG) == "true":
        pair.ids.models[model.model_id] = copy.model_id
        return
    if copy is None:
        copy = pair.target.create_logged_model(
            pair.experiments[model.experiment_id], name=model.name,
            source_run_id=pair.ids.runs.get(model.source_run_id or "", None),
            tags={**{k: pair.ids.rewrite(v) for k, v in model.tags.items()},
                  FROM_TAG: model.model_id},
            params=dict(model.params), model_type=model.model_type)
        pair.count("logged_models", 1)
    pair.ids.models[model.model_id] = copy.model_id
    with tempfile.TemporaryDirectory() as scratch:
        folder = download_logged_model(pair.source_uri, model, Path(scratch))
        if any(folder.iterdir()):
            pair.target.log_model_artifacts(copy.model_id, str(folder))
    if model.status == LoggedModelStatus.READY:
        pair.target.finalize_logged_model(copy.model_id, LoggedModelStatus.READY)
    pair.target.set_logged_model_tags(copy.model_id, {COMPLETE_TAG: "true"})


def sync_run(pair: Pair, run: Any) -> None:
    """Whatever of `run` its copy lacks: params, tags (ids rewritten), metric points,
    artifacts (by digest), dataset and model links, status and end; then `complete`."""
    from mlflow.entities import Metric, Param, RunTag

    old, new = run.info.run_id, pair.ids.runs[run.info.run_id]
    have = pair.target.get_run(new)
    params = [Param(k, v) for k, v in run.data.params.items() if k not in have.data.params]
    tags = [RunTag(k, pair.ids.rewrite(v)) for k, v in run.data.tags.items()
            if have.data.tags.get(k) != pair.ids.rewrite(v)]
    for start in range(0, len(params), BATCH_PARAMS):
        pair.target.log_batch(new, params=params[start:start + BATCH_PARAMS])
    for start in range(0, len(tags), BATCH_TAGS):
        pair.target.log_batch(new, tags=tags[start:start + BATCH_TAGS])
    missing = []
    for key in sorted(run.data.metrics):
        there = {point_key(m) for m in points(pair.target, new, key)} \
            if key in have.data.metrics else set()
        missing += [Metric(m.key, m.value, m.timestamp, m.step)
                    for m in points(pair.source, old, key) if point_key(m) not in there]
    for start in range(0, len(missing), BATCH_METRICS):
        pair.target.log_batch(new, metrics=missing[start:start + BATCH_METRICS])
    pair.count("params", len(params))
    pair.count("tags", len(tags))
    pair.count("metric_points", len(missing))
    sync_artifacts(pair, old, new)
    _sync_links(pair, run, have)
    ended = run.info.status != "RUNNING"  # a run still running at the source stays so here
    if ended and (run.info.status, run.info.end_time) != (have.info.status, have.info.end_time):
        pair.target.set_terminated(new, run.info.status, run.info.end_time)
    pair.target.set_tag(new, COMPLETE_TAG, "true")
    pair.complete.add(old)


def sync_artifacts(pair: Pair, old: str, new: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        source = download_run(pair.source, old, Path(scratch) / "source")
        wanted = file_digests(source)
        if not wanted:
            return
        there = file_digests(download_run(pair.target, new, Path(scratch) / "target"))
        for rel, digest in wanted.items():
            if there.get(rel) != digest:
                folder = rel.rpartition("/")[0] or None
                pair.target.log_artifact(new, str(source / rel), artifact_path=folder)
                pair.count("artifacts", 1)


def _sync_links(pair: Pair, run: Any, have: Any) -> None:
    """Dataset inputs (name, digest, source: what the run trained on) and logged-model links."""
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    new = have.info.run_id
    there = {dataset_key(d) for d in (have.inputs.dataset_inputs if have.inputs else [])}
    datasets = [d for d in (run.inputs.dataset_inputs if run.inputs else [])
                if dataset_key(d) not in there]
    inputs_there = {m.model_id for m in (have.inputs.model_inputs or [])} if have.inputs else set()
    models_in = [LoggedModelInput(pair.ids.models[m.model_id])
                 for m in ((run.inputs.model_inputs or []) if run.inputs else [])
                 if m.model_id in pair.ids.models
                 and pair.ids.models[m.model_id] not in inputs_there]
    if datasets or models_in:
        pair.target.log_inputs(new, datasets=datasets or None, models=models_in or None)
    outputs_there = {m.model_id for m in (have.outputs.model_outputs or [])} \
        if have.outputs else set()
    outputs = [LoggedModelOutput(pair.ids.models[m.model_id], m.step)
               for m in ((run.outputs.model_outputs or []) if run.outputs else [])
               if m.model_id in pair.ids.models
               and pair.ids.models[m.model_id] not in outputs_there]
    if outputs:
        pair.target.log_outputs(new, outputs)


def dataset_key(dataset_input: Any) -> tuple[str, ...]:
    d = dataset_input.dataset
    context = sorted((t.key, t.value) for t in dataset_input.tags or [])
    return (d.name, d.digest, d.source_type, d.source, repr(context))


