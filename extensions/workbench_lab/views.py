"""What each route answers, as plain JSON-able dicts, read through `workbench` (blocking calls:
the handlers run these on their thread pool). No tornado here, so each is testable alone."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

RECENT_RUNS = 20
PROGRESS_PAIRS = (("epoch", "epochs"), ("step", "steps"))  # metric, param of the total
SWEEP_TRIALS = "sweep.n_trials"  # the param of a sweep's parent run (wb.sweep) naming its total
ENDED = ("FINISHED", "FAILED", "KILLED")


def overview(root: Path, experiment: str | None = None) -> dict[str, Any]:
    """Everything the sidebar shows, in one answer (one request per refresh): the store's and
    the cluster's reachability, the experiments, the newest runs (of `experiment`, an id; of
    all for None or an id no longer listed), each model, each pipeline. A part that fails
    says why in `errors` and the others still come.

    The store is opened once and its experiments listed once; that first read also tells
    whether the store answers (no separate probe). Each other part costs a fixed number of
    reads, however many models and pipelines there are (workbench.overview)."""
    from workbench.config import project_root, settings
    from workbench.overview import experiments, model_overview, read_client, recent_runs
    from workbench.pipelines.listing import list_pipelines
    from workbench.tracking.store import display_uri

    uri = display_uri(settings().tracking_uri)
    out: dict[str, Any] = {"store": {"ok": True, "uri": uri, "error": None},
                           "cluster": cluster_state(), "experiments": [],
                           "experiment": None, "runs": [], "models": [], "pipelines": [],
                           "errors": {}}
    try:
        client = read_client()
        listed = experiments(client)
    except Exception as exc:  # every other part reads the store: one line says it, not four
        out["store"] = {"ok": False, "uri": uri, "error": _line(exc)}
        return out
    out["experiments"] = listed
    names = {e["experiment_id"]: e["name"] for e in listed}
    # an experiment deleted (or never there) meanwhile: every experiment's runs, and
    # `experiment` None tells the sidebar its choice is gone
    experiment = out["experiment"] = experiment if experiment in names else None
    for part, read in (
            ("runs", lambda: run_rows(recent_runs(client, [experiment] if experiment
                                                  else list(names), RECENT_RUNS, names))),
            ("models", lambda: model_overview(root, client=client, experiment_list=listed)),
            ("pipelines", lambda: [pipeline_row(p) for p in list_pipelines(
                project_root(root), slots=0, client=client,
                experiments={e["name"]: e["experiment_id"] for e in listed})])):
        try:
            out[part] = read()
        except Exception as exc:  # say which part, show the rest
            out["errors"][part] = _line(exc)
    return out


def cluster_state() -> dict[str, Any]:
    """The cluster this server submits jobs to; a named scheduler is probed (2 s) before dask
    is asked, so a scheduler gone away costs a refresh 2 s, not dask's 30 s connect timeout."""
    import workbench as wb
    from workbench.config import settings

    address = settings().scheduler
    try:
        if address:
            parsed = urlparse(address if "://" in address else f"tcp://{address}")
            socket.create_connection((parsed.hostname or "", parsed.port or 8786), 2).close()
        found = wb.cluster_status()
    except Exception as exc:
        return {"ok": False, "state": "unreachable", "scheduler": address, "workers": 0,
                "error": f"{address or 'the local cluster'}: {_line(exc)}"}
    return {"ok": True, "state": found["state"], "scheduler": found["scheduler"],
            "workers": len(found["workers"]), "error": None}


def run_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """search_runs rows as the sidebar lists them, a running sweep with its trials counted."""
    return [run_row(r, trials_done(r) if is_running_sweep(r) else None) for r in rows]


def run_row(row: dict[str, Any], trials: int | None = None) -> dict[str, Any]:
    """A search_runs row as the sidebar lists it (workbench's own tags only: rows stay small);
    `trials`: how many trials of a sweep have ended."""
    tags = {k: v for k, v in row["tags"].items() if k.startswith("workbench.")}
    return {"run_id": row["run_id"], "run_name": row["name"], "experiment": row["experiment"],
            "status": row["status"], "start_time": row["started"],
            "duration_s": row["duration_s"], "metrics": row["metrics"], "params": row["params"],
            "tags": tags, "kind": tags.get("workbench.kind"),
            "progress": progress(row["metrics"], row["params"], trials)
            if row["status"] == "RUNNING" else None,
            "notebook": tags.get("workbench.job.notebook")}


def progress(metrics: dict[str, float], params: dict[str, str],
             trials: int | None = None) -> float | None:
    """How far a running training is, where its metrics say (epoch of epochs); a sweep, by
    its trials ended of its n_trials."""
    pairs = [(float(trials), SWEEP_TRIALS)] if trials is not None else \
        [(metrics[done] + 1, total) for done, total in PROGRESS_PAIRS if done in metrics]
    for done, total in pairs:
        if params.get(total, "").isdigit() and int(params[total]) > 0:
            return min(1.0, done / int(params[total]))
    return None


def is_running_sweep(row: dict[str, Any]) -> bool:
    return row["status"] == "RUNNING" and row["tags"].get("workbench.kind") == "sweep"


def trials_done(parent: dict[str, Any]) -> int:
    """How many trials of sweep `parent` have ended: its parent run logs only the total, so
    its nested runs (tagged with the parent) are counted, a page of 1000 at a time."""
    import workbench as wb
    from workbench.tracking.store import filter_literal

    query = f"tags.`mlflow.parentRunId` = {filter_literal(parent['run_id'])}"
    done, token = 0, None
    while True:
        page = wb.search_runs([parent["experiment"]], query, page_token=token, page_size=1000)
        done += sum(r["status"] in ENDED for r in page.rows)
        token = page.next_token
        if token is None:
            return done


def pipeline_row(status: dict[str, Any]) -> dict[str, Any]:
    return {"name": status["name"], "model": status.get("model"),
            "schedule": status.get("schedule"), "next": status.get("next_run"),
            "error": status.get("error"),
            "last": None if not status.get("last_run") else {
                "status": status["last_status"], "at": status["last_run"],
                "run_id": status["last_run_id"]}}


def runs(experiments: Sequence[str] | None, query: str, order: Sequence[str],
         status: str | None, token: str | None, size: int) -> dict[str, Any]:
    import workbench as wb

    page = wb.search_runs(experiments, query, order, status=status, page_token=token,
                          page_size=size)
    return {"runs": run_rows(page.rows), "next_token": page.next_token}


def run(run_id: str, root: Path) -> dict[str, Any]:
    import workbench as wb
    from workbench.errors import ConfigError

    try:
        detail = wb.run_detail(run_id)
    except ConfigError as exc:
        raise LookupError(str(exc)) from None
    curves = wb.metric_histories([run_id], list(detail["metrics"]), max_points=500)[run_id]
    return {**run_rows([detail])[0], "artifacts": detail["artifacts"],
            "metric_history": {k: [list(p) for p in v] for k, v in curves.items()}}


def model_history(name: str) -> dict[str, Any]:
    import workbench as wb

    if name not in wb.models():
        raise LookupError(f"no registered model {name!r}; the sidebar lists the models")
    return {"model": name, "champion": wb.champion(name), "entries": wb.history(name)}


def dossier_html(name: str, version: str) -> dict[str, Any]:
    import workbench as wb
    from workbench.promotion.dossier import to_html

    if name not in wb.models():
        raise LookupError(f"no registered model {name!r}; the sidebar lists the models")
    return {"model": name, "version": version, "html": to_html(wb.dossier(name, version))}


def parameters(notebook: Path, root: Path) -> dict[str, Any]:
    from workbench.pipelines.notebook_params import notebook_parameters

    if not notebook.is_file():
        raise LookupError(f"no notebook {notebook.relative_to(root).as_posix()!r}; save it first")
    found = notebook_parameters(notebook)
    return {"path": notebook.relative_to(root).as_posix(),
            "parameters": [{"name": n, "type": p.type, "default": p.default,
                            "description": p.description} for n, p in found.items()]}


def submit_job(notebook: Path, params: dict[str, Any], root: Path) -> dict[str, Any]:
    from workbench.pipelines import notebook_job

    job = notebook_job.submit(notebook, params, root=root)
    return {"job_id": job.run_id, "run_id": job.run_id, "status": job.status,
            "path": job.notebook}


def job(run_id: str) -> dict[str, Any]:
    from workbench.pipelines import notebook_job

    found = notebook_job.status(run_id)
    return {"job_id": run_id, "run_id": run_id, "status": found.status, "path": found.notebook,
            "error": found.error, "executed": found.executed is not None}


def open_job(run_id: str, root: Path) -> dict[str, Any]:
    from workbench.pipelines import notebook_job

    return {"path": notebook_job.copy_executed(run_id, root).relative_to(root).as_posix()}


def drift(run_id: str) -> dict[str, Any]:
    """One logged check: its verdict (the same as the sidebar's and the dashboards', judged
    at the threshold it recorded, `workbench.monitoring.verdict`), its signals (name, fired,
    value, threshold, detail), its columns, what it skipped, and Evidently's report."""
    import json

    import workbench as wb
    from workbench.errors import ConfigError
    from workbench.monitoring.history import MODEL_TAG
    from workbench.monitoring.verdict import check_signals, of_run
    from workbench.runs import artifact_bytes, run_detail

    try:
        row = run_detail(run_id, max_artifacts=20)
        result = wb.drift_result(run_id)
    except ConfigError as exc:
        raise LookupError(str(exc)) from None
    judged = of_run(row["tags"], row["metrics"], row["params"], result)
    recorded = None
    if any(a["path"] == "monitor/signals.json" for a in row["artifacts"]):
        with contextlib.suppress(ConfigError, ValueError):
            recorded = json.loads(artifact_bytes(run_id, "monitor/signals.json"))
    try:
        report: str | None = wb.drift_report(run_id)
    except ConfigError:
        report = None  # a check that tested no column has no report
    return {"run_id": run_id, "model": row["tags"].get(MODEL_TAG), "at": row["started"],
            **judged,
            "signals": check_signals(recorded if isinstance(recorded, list) else None,
                                     judged, result),
            "columns": [{"column": name, "drifted": c["drifted"], "score": c["score"],
                         "method": c["method"], "threshold": c["threshold"]}
                        for name, c in result["columns"].items()],
            "skipped": result.get("skipped", {}), "report_html": report}


def acting_identity(user_id: str, *, anonymous: bool, four_eyes: bool) -> str | None:
    """Who a Lab action is recorded as. On a governing tracking server: the tracking login
    this Jupyter server acts with (None: the server fills in the login it verified), never
    a name Jupyter shows. On a store nobody governs: Jupyter's user name, except that a
    four-eyes decision is refused under Jupyter's anonymous identities (each token request
    is a new random user, and `PATCH /api/me` renames it)."""
    from workbench.errors import ConfigError
    from workbench.governance.remote import governing_server

    if governing_server() is not None:
        return None
    if anonymous and four_eyes:
        raise ConfigError("a four-eyes decision needs a real identity, and Jupyter's default "
                          "one makes every token request a new anonymous user: configure "
                          "ServerApp.identity_provider_class (or JupyterHub), or use a "
                          "tracking server with logins (`workbench services`)")
    return user_id


def _four_eyes_policy(model: str) -> bool:
    import workbench as wb
    from workbench.promotion import registry
    from workbench.tracking.store import read_client

    if model not in wb.models():
        return False
    return registry.model_tags(read_client(), model).get(registry.FOUR_EYES_TAG) == "true"


def promote(model: str, run_id: str, reason: str, root: Path, *, notebook: Path | None,
            four_eyes: bool, preview: bool, require: Sequence[str], user_id: str,
            anonymous: bool = False) -> dict[str, Any]:
    """Preview the gates, or promote as `acting_identity` says. A notebook given for a model
    no pipeline produces yet becomes that pipeline first (on a real promotion only: a
    preview writes nothing), and is removed again when the promotion is refused or fails."""
    import workbench as wb
    from workbench.pipelines.listing import pipeline_for_model
    from workbench.promotion.promote import preview as gate_preview
    from workbench.promotion.records import PromotionRequest

    declared = pipeline_for_model(model, root)
    approver = acting_identity(user_id, anonymous=anonymous,
                               four_eyes=not preview and (four_eyes or _four_eyes_policy(model)))
    if preview:
        gates = gate_preview(model, run_id=run_id, require=require, root=root)
        return {"model": model, "run_id": run_id, "approver": approver,
                "pipeline": declared[1].name if declared else None,
                "champion": wb.champion(model) if model in wb.models() else None,
                "gates": [g.to_dict() for g in gates]}
    if not reason.strip():
        from workbench.errors import ConfigError

        raise ConfigError("a reason is required: say why this run should serve (it is kept "
                          "in the approval record)")
    pipeline = declared[1].name if declared else None
    guard: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if declared is None and notebook is not None:
        pipeline = _pipeline_name(model)
        guard = _new_pipeline(notebook, pipeline, model, root)
    with guard:
        outcome = wb.promote(model, run_id=run_id, approver=approver, reason=reason,
                             require=require, four_eyes=four_eyes, root=root)
    if isinstance(outcome, PromotionRequest):
        return {"outcome": "requested", "model": model, "request_id": outcome.request_id,
                "approver": outcome.requester, "pipeline": pipeline,
                "gates": [g.to_dict() for g in outcome.gates]}
    return {"outcome": "promoted", "model": model, "version": outcome.version,
            "previous_version": outcome.previous_version, "approver": outcome.approver,
            "pipeline": pipeline, "gates": [g.to_dict() for g in outcome.gates]}


def _pipeline_name(model: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in model)


@contextlib.contextmanager
def _new_pipeline(notebook: Path, name: str, model: str, root: Path) -> Iterator[None]:
    """Pipeline `name` from `notebook`, written first (a notebook it cannot use then refuses
    the promotion before anything is promoted) and removed again if the block raises: a
    refused or failed promotion leaves no pipeline behind."""
    import workbench as wb
    from workbench.project import PIPELINES_DIR

    folder = root / PIPELINES_DIR
    new_folder = not folder.is_dir()
    written = wb.pipeline.create(notebook, name=name, model=model, root=root)
    try:
        yield
    except BaseException:
        written.unlink(missing_ok=True)
        if new_folder:
            with contextlib.suppress(OSError):  # someone wrote another pipeline meanwhile
                folder.rmdir()
        raise


def decide(request_id: str, decision: str, reason: str, *, user_id: str,
           anonymous: bool = False) -> dict[str, Any]:
    import workbench as wb

    approver = acting_identity(user_id, anonymous=anonymous, four_eyes=True)

    if decision == "decline":
        entry = wb.decline(request_id, approver=approver, reason=reason)
        return {"outcome": "declined", "model": entry["model"], "request_id": request_id}
    record = wb.approve(request_id, approver=approver, reason=reason)
    return {"outcome": "promoted", "model": record.model, "version": record.version,
            "request_id": request_id}


def configure(tracking_uri: str, scheduler: str) -> list[str]:
    """Point this server's calls at the store and scheduler given (its environment, so for
    every user); an empty value leaves the server's own, and only a value that differs is
    set. Says what changed, passwords hidden."""
    from workbench.tracking.store import display_uri

    changed = []
    for variable, value in (("MLFLOW_TRACKING_URI", tracking_uri.strip()),
                            ("WORKBENCH_SCHEDULER", scheduler.strip())):
        if value and os.environ.get(variable) != value:
            os.environ[variable] = value
            changed.append(f"{variable}={display_uri(value)}")
    return changed


def where() -> dict[str, Any]:
    from workbench.config import settings
    from workbench.tracking.store import display_uri

    found = settings()
    return {"tracking_uri": display_uri(found.tracking_uri), "scheduler": found.scheduler}


LAUNCHER = '''"""Written by workbench-lab: the {app} dashboard in a JupyterLab tab (Panel renders
files under the Jupyter root only). Safe to delete; it is written again when needed."""
import os
os.chdir({root!r})
from workbench_apps.{app}.main import create_app
create_app().servable()
'''


def app_launcher(root: Path, app: str) -> Path:
    """The launcher file Panel renders for dashboard `app`, written when missing or stale."""
    from workbench.files import write_atomically
    from workbench.project import HOME_DIR

    target = root / HOME_DIR / "lab-apps" / f"{app}.py"
    text = LAUNCHER.format(app=app, root=str(root))
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, text)
    return target


def _line(exc: BaseException) -> str:
    said = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__
