"""`wb.monitor` / `workbench monitor`: drift of production data triggers retraining, once.

The champion's training data (its run's dataset source, or the policy's `reference`) is compared
with the new data on the champion's features (`monitoring.features`: its signature's inputs or
`drift.columns`, never ids, dates or the target); the check is logged to the model's drift
history. Past the policy's threshold the pipeline that produces the model runs, with the drift
window as parameters (those the spec declares: `drift_data`, `drift_detected_at`,
`drift_share`). A storm of drifting checks starts one retraining per cooldown: a rolling window
since the last retraining started, kept in the shared tracking store
(`workbench.retraining_window`), so monitors on every host agree; a retraining that failed does
not use the window up.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import project_root
from workbench.errors import ConfigError, WorkbenchError
from workbench.pipelines.listing import pipeline_for_model
from workbench.pipelines.spec import DriftPolicy, MonitorPolicy, PipelineSpec
from workbench.project import PIPELINES_DIR


@dataclass
class MonitorResult:
    model: str
    version: str | None
    drifted: bool
    share: float
    threshold: float
    check_run_id: str
    triggered: bool
    pipeline: str
    pipeline_run_id: str | None = None
    pipeline_status: str | None = None
    reason: str = ""
    columns: list[str] = field(default_factory=list)  # the features compared
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why it did not count
    candidate_run_id: str | None = None  # the retrained model's run
    promotion: dict[str, Any] | None = None  # action: requested / promoted / rejected / none
    # every signal checked (data_drift, input_drift, prediction_drift, performance), with
    # whether it fired and why; `fired` names those that did, and start a retraining
    signals: list[dict[str, Any]] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    current: str = ""  # the production data checked, as an absolute path when it is a path
    retrain_params: dict[str, Any] = field(default_factory=dict)  # what the retraining got

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def monitor(model: str, current: Any, *, root: str | Path | None = None,
            policy: DriftPolicy | None = None, now: datetime.datetime | None = None,
            labels: Any = None) -> MonitorResult:
    """Check `current` (production data: a DataFrame, or a Parquet/CSV path resolved against
    the working directory) against `model`'s champion: the drift of its raw columns, of its
    inputs (with `monitor.features`), of its predictions, and its metric where labels are
    known (in `current`, or in `labels` joined by `monitor.key`). Any signal that fires starts
    one retraining per cooldown, from the champion's parameters."""
    from workbench import retraining_window
    from workbench.pipelines.execute import run
    from workbench.tracking.store import tracking_client

    base = project_root(root)
    spec = _pipeline_for(model, base)
    policy = policy or spec.drift or DriftPolicy()
    current, labels = resolved_data(current, "current"), resolved_data(labels, "labels")
    client = tracking_client()
    outcome, result = _check(client, model, current, spec, policy, base, labels)
    check_run = outcome.check_run_id
    now_ms = int(now.timestamp() * 1000) if now is not None else None
    if not outcome.fired:
        outcome.reason = f"nothing fired: {_quiet(outcome)}"
        return outcome
    claim = retraining_window.claim(client, model, cooldown_hours=policy.cooldown_hours,
                                    now_ms=now_ms)
    if isinstance(claim, str):
        outcome.reason = f"{_fired_text(outcome)}; {claim}"
        return outcome
    started = retraining_window.as_datetime(claim.started_ms)
    params = {"drift_data": outcome.current,
              "drift_detected_at": started.isoformat(timespec="seconds"),
              "drift_share": float(result.share),
              "monitor_signals": ",".join(outcome.fired)}
    monitor_policy = spec.monitor or MonitorPolicy()
    if monitor_policy.retrain_from == "champion" and outcome.version is not None:
        outcome.retrain_params = champion_params(client, model, outcome.version, spec)
    declared = {**outcome.retrain_params,
                **{k: v for k, v in params.items() if k in spec.params}}
    outcome.triggered = True
    try:
        with claim.running():
            retrain = run(spec.name, declared, root=base)
    except BaseException as exc:  # the window stays open: the next drift retrains again
        claim.end("failed", **{"workbench.error": str(exc).splitlines()[0] if str(exc) else
                               type(exc).__name__, "workbench.check_run": check_run})
        raise
    outcome.pipeline_run_id, outcome.pipeline_status = retrain.run_id, retrain.status
    outcome.reason = f"{_fired_text(outcome)}: retrained" + (
        f" from the champion's {', '.join(sorted(outcome.retrain_params))}"
        if outcome.retrain_params else "")
    claim.end("finished", **{"workbench.pipeline_run": retrain.run_id,
                             "workbench.check_run": check_run})
    client.set_tag(check_run, "workbench.triggered_run", outcome.pipeline_run_id or "")
    if outcome.pipeline_run_id:
        try:
            _propose(client, model, spec, policy, outcome, current, base)
        except WorkbenchError as exc:  # the retraining happened: keep its ids, say what failed
            outcome.promotion = {"action": "error", "detail": str(exc)}
    return outcome


def check_drift(model: str, current: Any, *, root: str | Path | None = None,
                policy: DriftPolicy | None = None, labels: Any = None) -> MonitorResult:
    """Check `current` against `model`'s champion as `wb.monitor` does (every signal), and log
    the check to its monitoring history, but never start a retraining (`triggered` stays
    False): a look from a notebook or the drift dashboard, not a production trigger."""
    from workbench.tracking.store import tracking_client

    base = project_root(root)
    spec = _pipeline_for(model, base)
    policy = policy or spec.drift or DriftPolicy()
    current, labels = resolved_data(current, "current"), resolved_data(labels, "labels")
    outcome, _ = _check(tracking_client(), model, current, spec, policy, base, labels)
    outcome.reason = (f"{_fired_text(outcome)}: checked only, no retraining started"
                      if outcome.fired else f"nothing fired: {_quiet(outcome)}")
    return outcome


def resolved_data(data: Any, label: str) -> Any:
    """A path as typed, made absolute against the working directory (where it was typed), so
    the steps of a retraining, which run elsewhere, read the same file; other data as given."""
    if not isinstance(data, (str, Path)):
        return data
    path = Path(data).expanduser()
    resolved = path if path.is_absolute() else (Path.cwd() / path)
    resolved = resolved.resolve()
    if not resolved.exists():
        raise ConfigError(f"{label} data {data} does not exist (looked at {resolved}); give a "
                          "path relative to where you run the command, or an absolute one")
    return str(resolved)


def _fired_text(outcome: MonitorResult) -> str:
    return "; ".join(f"{s['name']} fired ({s['detail']})" for s in outcome.signals
                     if s["fired"])


def _quiet(outcome: MonitorResult) -> str:
    """Why nothing fired: the drift share against the threshold, then each other signal."""
    said = [f"drift share {outcome.share:.2f} below the threshold {outcome.threshold}"]
    said += [f"{s['name']}: {s['detail']}" for s in outcome.signals if s["name"] != "data_drift"]
    return "; ".join(said)


def champion_params(client: Any, model: str, version: str, spec: PipelineSpec
                    ) -> dict[str, Any]:
    """The champion's values of the spec's params (its run's, else its pipeline run's), typed
    as the spec declares them; data paths and the monitor's own params are not carried over."""
    import ast

    from workbench.pipelines.spec import is_of_type

    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        return {}
    run = client.get_run(run_id)
    found = dict(run.data.params)
    parent = run.data.tags.get("workbench.pipeline_run")
    if parent:
        with contextlib.suppress(Exception):  # a pipeline run since deleted
            found = {**client.get_run(parent).data.params, **found}
    own = {"drift_data", "drift_detected_at", "drift_share", "monitor_signals", *spec.inputs}
    out: dict[str, Any] = {}
    for name, param in spec.params.items():
        if name in own or name not in found:
            continue
        text = found[name]
        try:
            value: Any = {"int": int, "float": float, "str": str}[param.type](text) \
                if param.type in ("int", "float", "str") else \
                text.lower() == "true" if param.type == "bool" else ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
        if is_of_type(value, param.type):
            out[name] = value
    return out


def drift_policy(model: str, *, root: str | Path | None = None) -> DriftPolicy:
    """The drift policy of the pipeline that produces `model` (its threshold, cooldown,
    columns), or the defaults when no pipeline names the model."""
    found = pipeline_for_model(model, project_root(root))
    return (found[1].drift if found and found[1].drift else None) or DriftPolicy()


def _check(client: Any, model: str, current: Any, spec: PipelineSpec, policy: DriftPolicy,
           base: Path, labels: Any = None) -> tuple[MonitorResult, Any]:
    """Every signal of `current` against the champion, logged to the model's monitoring
    history (and alerted where alerts are configured, when one fires)."""
    from workbench.monitoring.signals import Signal, watch
    from workbench.promotion import registry

    version = registry.champion_version(client, model)
    reference = _reference(client, model, version, policy, base)
    result, choice, inputs, target = _feature_drift(client, model, version, spec, policy,
                                                    reference, current)
    drifted = result.share >= policy.threshold
    signals = [Signal("data_drift", drifted, result.share, f">= {policy.threshold:g}",
                      f"{len(result.drifted_columns)} of {len(result.columns)} columns drifted"
                      + (f" ({', '.join(result.drifted_columns[:8])})"
                         if result.drifted_columns else "") + f", on {choice.basis}")]
    watching = spec.monitor or MonitorPolicy()
    if version is not None:
        uri = registry.version_model_uri(model, version)
        score = _reference_score(client, model, version, watching)
        watched = watch(uri, inputs, reference, current, policy=watching,
                        threshold=policy.threshold, target=target, labels=labels, root=base,
                        reference_score=score)
        signals += watched.signals
    elif labels is not None:
        raise ConfigError(f"{model} has no champion to score labels with; promote one first")
    outcome = MonitorResult(model, version, drifted, result.share, policy.threshold, "", False,
                            spec.name, columns=list(result.columns),
                            left_out={**result.skipped, **choice.left_out},
                            signals=[s.to_dict() for s in signals],
                            fired=[s.name for s in signals if s.fired],
                            current=current if isinstance(current, str) else
                            type(current).__name__)
    outcome.check_run_id = result.log(model=model, version=version, signals=outcome.signals)
    if outcome.fired:
        from workbench.governance.alerts.delivery import notify

        notify({"action": "monitor", "model": model, "version": version,
                "fired": outcome.fired, "reason": _fired_text(outcome),
                "check_run": outcome.check_run_id, "data": outcome.current})
    return outcome, result


def _reference_score(client: Any, model: str, version: str, policy: MonitorPolicy
                     ) -> float | None:
    """The champion's own logged value of the performance metric, held-out data first."""
    from workbench.metric_names import score_name

    if policy.performance is None:
        return None
    declared = policy.performance.metric
    wanted = score_name(declared)
    run_id = client.get_model_version(model, version).run_id
    if not run_id:
        return None
    metrics = client.get_run(run_id).data.metrics
    named = [k for k in metrics if score_name(k) == wanted]
    named.sort(key=lambda k: (not k.lower().startswith(("val", "test", "holdout", "eval")),
                              k != declared, k))
    return float(metrics[named[0]]) if named else None


def _propose(client: Any, model: str, spec: PipelineSpec, policy: DriftPolicy,
             outcome: MonitorResult, current: Any, root: Path) -> None:
    """The retrained model becomes a promotion request; with `drift.auto_promote` and gates
    declared it is promoted, if every gate passes (a four-eyes model still gets a request)."""
    from workbench.errors import PromotionRefused
    from workbench.promotion.promote import PromotionRequest, promote

    candidates = retrained_runs(client, str(outcome.pipeline_run_id))
    chosen, why = choose_candidate(candidates, spec)
    if chosen is None:
        outcome.promotion = {"action": "none", "detail": why}
        return
    outcome.candidate_run_id = str(chosen.info.run_id)
    auto = policy.auto_promote and bool(spec.gates)
    carried = ", ".join(f"{k}={v}" for k, v in outcome.retrain_params.items())
    start = f"from the champion's {carried}" if carried else "from the spec's defaults"
    reason = (f"retrained by pipeline {spec.name} (run {outcome.pipeline_run_id}), {start}, "
              f"after {', '.join(outcome.fired)} on {outcome.current}")
    from workbench.governance.remote import governing_server

    # a governing server records the login the monitor runs under; elsewhere a name says it
    approver = None if governing_server() is not None else MONITOR
    try:
        decided = promote(model, run_id=outcome.candidate_run_id, approver=approver,
                          reason=reason, four_eyes=not auto, spec_data=current, root=root)
    except PromotionRefused as exc:
        outcome.promotion = {"action": "rejected", "detail": str(exc)}
        return
    if isinstance(decided, PromotionRequest):
        note = "" if auto or not policy.auto_promote else \
            "; drift.auto_promote needs at least one gate in the spec"
        outcome.promotion = {"action": "requested", "request_id": decided.request_id,
                             "detail": f"approve with `workbench approve {decided.request_id} "
                                       f"--approver WHO --reason WHY`{note}"}
    else:
        outcome.promotion = {"action": "promoted", "version": decided.version,
                             "detail": f"{model} v{decided.version} is champion (was "
                                       f"v{decided.previous_version})"}


MONITOR = "workbench-monitor"  # the requester of promotions the monitor proposes


def retrained_runs(client: Any, pipeline_run_id: str) -> list[Any]:
    """FINISHED runs started inside the pipeline run that logged a model."""
    from workbench.tracking.store import filter_literal

    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(
        experiments, max_results=1000,
        filter_string=f"tags.`workbench.pipeline_run` = {filter_literal(pipeline_run_id)} "
                      "and attributes.status = 'FINISHED'")
    return [r for r in found if r.outputs and r.outputs.model_outputs]


def choose_candidate(runs: list[Any], spec: PipelineSpec) -> tuple[Any | None, str]:
    """One model: that one. Several (a sweep): the best on the spec's first gate metric."""
    from workbench.gate_syntax import parse_requirement

    if not runs:
        return None, ("the pipeline run logged no model in a run of its own (train with "
                      "wb.train, or tag the run workbench.pipeline_run)")
    if len(runs) == 1:
        return runs[0], ""
    for gate in spec.gates:
        if gate.beat_champion or gate.metric:
            beat = gate.beat()
            if beat is not None:
                metric, mode = beat.metric, str(beat.mode)
            else:
                requirement = parse_requirement(str(gate.metric))
                metric = requirement.metric
                mode = "min" if requirement.op in ("<", "<=") else "max"
            scored = [r for r in runs if metric in r.data.metrics]
            if scored:
                best = (max if mode == "max" else min)(scored, key=lambda r: r.data.metrics[metric])
                return best, f"best of {len(runs)} on {metric}"
    return None, (f"the pipeline run logged {len(runs)} models and the spec has no gate metric "
                  "to choose the best; promote one with `workbench promote --run`")


def _pipeline_for(model: str, root: Path) -> PipelineSpec:
    found = pipeline_for_model(model, root)
    if found is None:
        raise ConfigError(f"no pipeline in {root / PIPELINES_DIR} produces model {model!r}; set "
                          "`model:` in the spec of the pipeline that retrains it")
    return found[1]


def _feature_drift(client: Any, model: str, version: str | None, spec: PipelineSpec,
                   policy: DriftPolicy, reference: Any, current: Any
                   ) -> tuple[Any, Any, list[str] | None, str | None]:
    """Drift on the champion's features: its signature's input columns (or drift.columns),
    without drift.exclude, the target, row ids and dates."""
    from workbench.monitoring.features import choose_features, feature_drift
    from workbench.promotion import registry
    from workbench.tracking.datasets import recorded_target

    inputs, target = None, spec.target
    if version is not None:
        inputs = registry.model_inputs(registry.version_model_uri(model, version))
        run_id = client.get_model_version(model, version).run_id
        if target is None and run_id:
            target = recorded_target(client.get_run(run_id))
    choice = choose_features(reference, current, model_inputs=inputs, columns=policy.columns,
                             exclude=policy.exclude, target=target,
                             model=f"{model} v{version}" if version else model)
    types = {c: t for c, t in policy.column_types.items() if c in choice.columns}
    found = feature_drift(reference, current, choice, drift_share=policy.threshold,
                          column_types=types)
    return found, choice, inputs, target


def _reference(client: Any, model: str, version: str | None, policy: DriftPolicy,
               root: Path) -> Any:
    if version is not None:
        from workbench.tracking.datasets import checked_training_data

        run_id = client.get_model_version(model, version).run_id
        found = checked_training_data(client.get_run(run_id)) if run_id else None
        if found is not None:
            return found
    if policy.reference:
        path = (root / policy.reference).resolve()
        if not path.exists():
            raise ConfigError(f"drift.reference {path} does not exist; fix the pipeline spec")
        return path
    raise ConfigError(f"cannot find the training data of {model}"
                      f"{f' v{version}' if version else ''}: train it from a Parquet/CSV path, "
                      "or set drift.reference in its pipeline spec")
