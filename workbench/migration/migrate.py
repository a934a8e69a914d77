"""`workbench migrate --to URI`: the embedded store (or `--from URI`) copied to a tracking
server, then both compared; safe to re-run, and to re-run after an interruption.

Order: experiments, every run (empty, so ids can be mapped), logged models, run contents,
registered models with their versions, tags, history and aliases. Then every run, logged model
and registered model is read back on both sides and compared part by part (counts and
digests), a run that differs is copied once more, and each promotion history must verify in
the target as it did in the source.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.migration import models as registry_copy
from workbench.migration import runs as copying
from workbench.migration import verify
from workbench.migration.runs import Pair
from workbench.promotion.registry import quiet_downloads

LIVE_KINDS = ("promotion-lock", "schedule", "retraining")  # leases of work in progress


def default_source() -> str:
    from workbench.config import settings

    return f"sqlite:///{settings().home / 'mlflow.db'}"


def migrate(to: str, source: str | None = None, *, check_only: bool = False,
            say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Copy `source` (default: the embedded store) into `to` and verify it; with
    `check_only`, compare only. The report's `ok` is True when everything matched and every
    history verified."""
    from mlflow import MlflowClient

    from workbench.tracking.store import check_reachable, display_uri, quiet_mlflow

    source = source or default_source()
    _check_source(source)
    if _same_store(source, to):
        raise ConfigError(f"--to {display_uri(to)} is the store being migrated; name another "
                          "store (the tracking server's URI)")
    check_reachable(to)
    quiet_mlflow()
    source_client = MlflowClient(tracking_uri=source)
    _refuse_live_work(source_client)
    if to.startswith("sqlite:///"):  # a new SQLite store is made where it is named
        Path(to.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    pair = Pair(source_client, MlflowClient(tracking_uri=to), source, to, say)
    pair.ids.runs, pair.complete = copying.known_runs(pair.target)
    known_models = copying.known_models(pair.target)
    pair.ids.models = {old: model.model_id for old, model in known_models.items()}
    refused: list[str] = []
    with _target_as_default(to), quiet_downloads():
        if not check_only:
            refused = _copy(pair, known_models)
        report = _verify(pair, resync=not check_only)
    report.update({"from": display_uri(source), "to": display_uri(to), "check_only": check_only,
                   "copied": dict(pair.copied), "refused": refused})
    report["ok"] = report["ok"] and not refused
    return report


@contextlib.contextmanager
def _target_as_default(uri: str) -> Iterator[None]:
    """MLflow's global tracking URI on the target while copying: a SQLite registry looks up the
    logged model of a new `models:/` version through it, whatever client asked."""
    import mlflow

    saved = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved)  # type: ignore[arg-type]


def _check_source(source: str) -> None:
    if source.startswith("sqlite:///"):
        path = Path(source.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ConfigError(f"no store to migrate at {path}; set WORKBENCH_HOME to the home "
                              "that holds mlflow.db, or pass --from URI")


def _same_store(a: str, b: str) -> bool:
    def norm(uri: str) -> str:
        if uri.startswith("sqlite:///"):
            return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
        return uri.rstrip("/")

    return norm(a) == norm(b)


def _refuse_live_work(client: Any) -> None:
    """A promotion, a scheduled slot or a retraining holding a live lease at the source would
    go on writing there after the copy: refused until it ends."""
    from workbench.tracking import leases

    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        for model in page:
            if model.tags.get(leases.KIND_TAG) not in LIVE_KINDS:
                continue
            info = leases.read(client, model.name)
            if info is not None and info.age_s < leases.STALE_S:
                raise ConfigError(f"{info.tags.get(leases.KIND_TAG)} {model.name} is in "
                                  f"progress at the source (held by {info.holder}, heartbeat "
                                  f"{info.age_s:.0f}s ago); let it finish, then migrate")
        token = page.token
        if not token:
            return


def _copy(pair: Pair, known_models: dict[str, Any]) -> list[str]:
    """Everything the target lacks; the models refused (a different model of that name is
    there), one line each."""
    source_experiments = copying.experiments(pair.source)
    for experiment in source_experiments:
        copying.ensure_experiment(pair, experiment)
    pair.say(f"experiments: {len(source_experiments)}")
    all_runs = copying.runs_of(pair.source, [e.experiment_id for e in source_experiments])
    copying.ensure_runs(pair, all_runs)
    for model in copying.logged_models(pair.source, list(pair.experiments)):
        copying.copy_logged_model(pair, model, known_models)
    todo = [r for r in all_runs if r.info.run_id not in pair.complete]
    with ThreadPoolExecutor(pair.jobs) as pool:
        def sync(run: Any) -> Any:
            copying.sync_run(pair, run)
            return run

        for done, run in enumerate(pool.map(sync, todo), start=1):
            pair.say(f"run {done}/{len(todo)}: {run.info.run_name or run.info.run_id}")
    refused = []
    for model in registry_copy.registered_models(pair.source):
        try:
            registry_copy.sync_model(pair, model)
            pair.say(f"model {model.name}")
        except ConfigError as exc:
            refused.append(str(exc))
            pair.say(f"refused: {exc}")
    return refused


def _verify(pair: Pair, resync: bool) -> dict[str, Any]:
    """Both stores read back and compared, kind by kind; with `resync`, a run that differs
    is copied once more first (changed at the source since, or cut short)."""
    kinds = {name: verify.Kind() for name in
             ("experiments", "runs", "logged_models", "registered_models", "histories")}
    experiments = copying.experiments(pair.source)
    for experiment in experiments:
        found = pair.target.get_experiment_by_name(experiment.name)
        verify.compare(kinds["experiments"], f"experiment {experiment.name}",
                       {"tags": dict(experiment.tags)},
                       {"tags": {k: v for k, v in found.tags.items() if k in experiment.tags}}
                       if found is not None else None)
    ids = [e.experiment_id for e in experiments]
    points = _verify_runs(pair, kinds["runs"], ids, resync)
    _verify_logged_models(pair, kinds["logged_models"], ids)
    _verify_registry(pair, kinds["registered_models"], kinds["histories"])
    report: dict[str, Any] = {name: kind.to_dict() for name, kind in kinds.items()}
    report["runs"]["metric_points"] = points
    return {"kinds": report, "ok": not any(kind.differ for kind in kinds.values())}


def _verify_runs(pair: Pair, kind: verify.Kind, experiment_ids: list[str], resync: bool) -> int:
    """Each run against its copy, several at once; the metric points the source holds."""
    from workbench.tracking.migrated import copies_of

    def both_views(run: Any) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
        want = verify.run_view(pair, run, "source")
        new = pair.ids.runs.get(run.info.run_id) or \
            next((c.info.run_id for c in copies_of(pair.target, run.info.run_id)), None)
        got = _target_run_view(pair, new, want)
        if verify.digest(want) != verify.digest(got) and resync and new is not None:
            pair.ids.runs[run.info.run_id] = new
            copying.sync_run(pair, run)
            got = _target_run_view(pair, new, want)
        return run, want, got

    points = 0
    with ThreadPoolExecutor(pair.jobs) as pool:
        runs = copying.runs_of(pair.source, experiment_ids)
        for run, want, got in pool.map(both_views, runs):
            points += sum(len(p) for p in want["metrics"].values())
            verify.compare(kind, f"run {run.info.run_id} ({run.info.run_name})", want, got)
    return points


def _target_run_view(pair: Pair, run_id: str | None, want: dict[str, Any]
                     ) -> dict[str, Any] | None:
    if run_id is None:
        return None
    return verify.run_view(pair, pair.target.get_run(run_id), "target", want["tags"])


def _verify_logged_models(pair: Pair, kind: verify.Kind, experiment_ids: list[str]) -> None:
    copies = copying.known_models(pair.target)
    for model in copying.logged_models(pair.source, experiment_ids):
        copy = copies.get(model.model_id)
        want = verify.logged_model_view(pair, model, "source")
        verify.compare(kind, f"logged model {model.model_id}", want,
                       verify.logged_model_view(pair, copy, "target", want["tags"])
                       if copy else None)


def _verify_registry(pair: Pair, models: verify.Kind, histories: verify.Kind) -> None:
    """Each registered model against its copy, and its history's verdict in both stores
    (a history broken at the source is copied as it is, and must read the same there)."""
    from mlflow.exceptions import MlflowException

    from workbench.promotion.registry import history_key, read_ledger, verify_ledger

    for model in registry_copy.registered_models(pair.source):
        want = verify.model_view(pair, model, "source")
        try:
            copy = pair.target.get_registered_model(model.name)
        except MlflowException:
            copy = None
        verify.compare(models, f"model {model.name}", want,
                       verify.model_view(pair, copy, "target", want["tags"]) if copy else None)
        here = verify_ledger(read_ledger(pair.source, model.name), history_key())
        there = verify_ledger(read_ledger(pair.target, model.name), history_key()) \
            if copy else None
        histories.source += 1
        if there is not None and (there.ok, there.why) == (here.ok, here.why):
            histories.matched += 1
        else:
            histories.differ.append(f"history of {model.name}: "
                                    f"{there.why if there else 'missing'} in the target, "
                                    f"{here.why} in the source")
