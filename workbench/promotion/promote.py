"""`wb.promote`, `wb.rollback`, `wb.history`: move the `champion` alias only through gates.

A promotion reads the champion at its start (or takes `expect_version`), evaluates every gate,
and only if all pass takes the registry lock, checks the champion is still the one expected,
registers the run's model if needed, writes the approval record on the version, moves the
alias and appends the history entry. A refused or conflicting promotion moves nothing.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import project_root
from workbench.errors import ConfigError, PromotionConflict, PromotionRefused
from workbench.gate_syntax import Requirement, parse_beat, parse_requirement
from workbench.pipelines.listing import pipeline_for_model
from workbench.promotion import registry
from workbench.promotion.gates import GateResult, champion_gate, metric_gate
from workbench.promotion.ledger import verify

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.pipelines.spec import PipelineSpec

UNSET: Any = object()


@dataclass
class PromotionRecord:
    model: str
    version: str
    previous_version: str | None
    alias: str
    run_id: str
    approver: str
    reason: str
    at: str
    gates: list[GateResult] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = [g.to_dict() for g in self.gates]
        return out


@dataclass
class PromotionRequest:
    """A promotion waiting for a second person (four-eyes policy): nothing moved yet."""

    request_id: str  # "MODEL/N": `workbench approve MODEL/N --approver WHO --reason WHY`
    model: str
    run_id: str
    requester: str
    reason: str
    at: str
    expected_champion: str | None
    gates: list[GateResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = [g.to_dict() for g in self.gates]
        return out


def promote(model: str, *, run_id: str, approver: str, reason: str,
            require: Sequence[str] = (), beat_champion: str | None = None,
            margin: float = 0.0, mode: str = "max", expect_version: Any = UNSET,
            four_eyes: bool = False, production_data: Any = None,
            training_data: Any = None, root: str | Path | None = None,
            spec_data: Any = None) -> PromotionRecord | PromotionRequest:
    """Make `run_id`'s model the champion of `model` if every gate passes.

    The gates are those given here plus those the pipeline producing `model` declares (the
    spec in `root/pipelines/` whose `model:` is `model`; `root` defaults to the current
    directory).

    Under a four-eyes policy (`four_eyes=True`, or the model's `workbench.policy.four_eyes` tag)
    `approver` is the requester: the gates are checked now and a pending request is returned for
    someone else to `approve`.

    `production_data` (a path or DataFrame of recent production data) adds two data gates: the
    run's training data (`training_data`, else the path its dataset input names) must pass
    `wb.validate` against it and must not drift from it (`wb.drift`). Data gates the spec
    declares are checked against `production_data`, else `spec_data` (which adds no gate;
    the monitor passes the drift window), else the spec's `drift.data`.
    """
    from workbench.tracking.store import tracking_client

    if not approver.strip() or not reason.strip():
        raise ConfigError("a promotion needs an approver and a reason (--approver, --reason)")
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    wanted = GatePlan.from_flags(require, beat_champion, margin, mode,
                                 data=production_data is not None)
    base = project_root(root)
    declared = pipeline_for_model(model, base)
    if declared is not None:
        wanted = wanted.merge(GatePlan.from_spec(*declared, base))
        if production_data is None:
            policy = declared[1].drift
            production_data = spec_data if spec_data is not None else \
                (base / policy.data).resolve() if policy and policy.data else None
    client = tracking_client()
    run = _finished_run(client, run_id)
    expected = registry.champion_version(client, model) if expect_version is UNSET \
        else (None if expect_version is None else str(expect_version))
    gates = _evaluate(client, model, run, wanted, expected, production_data, training_data)
    now = _now()
    registry.ensure_registered(client, model)
    failed = [g for g in gates if not g.passed]
    if failed:
        with registry.promotion_lock(client, model):
            registry.append_history(client, model, {
                "action": "rejected", "model": model, "run_id": run_id, "approver": approver,
                "reason": reason, "at": now, "champion": expected,
                "gates": [g.to_dict() for g in gates]})
        raise PromotionRefused(f"promotion of run {run_id} to {model} refused; failing gates: "
                               + "; ".join(f"{g.gate} ({g.detail})" for g in failed))
    if four_eyes or registry.requires_four_eyes(client, model):
        with registry.promotion_lock(client, model):
            entry = registry.append_history(client, model, {
                "action": "requested", "model": model, "run_id": run_id, "requester": approver,
                "reason": reason, "at": now, "champion": expected,
                "gates": [g.to_dict() for g in gates]})
        return PromotionRequest(f"{model}/{entry['seq']}", model, run_id, approver, reason, now,
                                expected, gates)
    return _apply(client, model, run, approver, reason, now, gates, expected, requester=None)


def approve(request_id: str, *, approver: str, reason: str) -> PromotionRecord:
    """Complete a four-eyes request: a different person approves; the champion must not have
    moved since the request (else PromotionConflict, nothing moved)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    model, request = _pending_request(client, request_id, approver, reason)
    if approver.strip() == str(request["requester"]).strip():
        raise ConfigError(f"four-eyes policy: {approver} requested this promotion and cannot "
                          "approve it; ask someone else")
    run = _finished_run(client, str(request["run_id"]))
    gates = [GateResult(**g) for g in request.get("gates", [])]
    return _apply(client, model, run, approver, reason, _now(), gates,
                  request.get("champion"), requester=str(request["requester"]),
                  request_id=request_id)


def decline(request_id: str, *, approver: str, reason: str) -> dict[str, Any]:
    """Close a pending request without promoting (the requester may withdraw it too)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    model, _ = _request_model(request_id)
    with registry.promotion_lock(client, model):  # checked under the lock: decided only once
        _, request = _pending_request(client, request_id, approver, reason)
        return registry.append_history(client, model, {
            "action": "declined", "model": model, "run_id": request["run_id"],
            "request": request_id, "requester": request["requester"], "approver": approver,
            "reason": reason, "at": _now()})


def _request_model(request_id: str) -> tuple[str, int]:
    model, _, seq = request_id.rpartition("/")
    if not model or not seq.isdigit():
        raise ConfigError(f"request {request_id!r} is not MODEL/N (as `promote` printed it)")
    return model, int(seq)


def _pending_request(client: MlflowClient, request_id: str, approver: str,
                     reason: str) -> tuple[str, dict[str, Any]]:
    model, seq = _request_model(request_id)
    if not approver.strip() or not reason.strip():
        raise ConfigError("a decision needs an approver and a reason (--approver, --reason)")
    entries = registry.read_history(client, model)
    request = next((e for e in entries if e.get("seq") == seq
                    and e.get("action") == "requested"), None)
    if request is None:
        raise ConfigError(f"no pending promotion request {request_id}; see `workbench history "
                          f"{model}`")
    decided = next((e for e in entries if e.get("request") == request_id), None)
    if decided is not None:
        raise ConfigError(f"request {request_id} was already decided ({decided['action']} by "
                          f"{decided.get('approver')})")
    return model, request


def _apply(client: MlflowClient, model: str, run: Any, approver: str, reason: str, now: str,
           gates: list[GateResult], expected: str | None, *, requester: str | None,
           request_id: str | None = None) -> PromotionRecord:
    """Under the lock: check the champion, register, record, move the alias, log history."""
    run_id = str(run.info.run_id)
    with registry.promotion_lock(client, model):
        if request_id is not None:  # decided by someone else since we read it?
            _pending_request(client, request_id, approver, reason)
        current = registry.champion_version(client, model)
        if current != expected and request_id is not None:
            raise PromotionConflict(
                f"the champion of {model} moved to v{current} since request {request_id} was "
                f"made (it expected {'none' if expected is None else 'v' + str(expected)}); "
                f"nothing was moved: decline it (`workbench decline {request_id}`) and promote "
                "again against the new champion")
        if current != expected:
            raise PromotionConflict(
                f"the champion of {model} is v{current} but this promotion expected "
                f"{'none' if expected is None else 'v' + expected}; nothing was moved: check "
                f"the new champion, then pass --expect-version {current} to promote anyway")
        version = registry.version_for_run(client, model, run_id)
        evidence = {**_evidence(client, run), "requester": requester, "request": request_id}
        record = PromotionRecord(model, version, current, registry.CHAMPION, run_id, approver,
                                 reason, now, gates, evidence)
        _write_record(client, record)
        client.set_registered_model_alias(model, registry.CHAMPION, version)
        try:
            registry.append_history(client, model, {
                "action": "promoted", "model": model, "version": version, "previous": current,
                "run_id": run_id, "approver": approver, "reason": reason, "at": now,
                "requester": requester, "request": request_id,
                "gates": [g.to_dict() for g in gates]})
        except BaseException:  # no alias move without its history entry
            _restore_alias(client, model, current)
            raise
    return record


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def rollback(model: str, *, to_version: str | int | None = None, approver: str = "",
             reason: str = "rollback") -> dict[str, Any]:
    """Move `champion` back to the version it replaced (or to `to_version`)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    with registry.promotion_lock(client, model):
        current = registry.champion_version(client, model)
        if current is None:
            raise ConfigError(f"{model} has no champion to roll back")
        target = str(to_version) if to_version is not None else _previous(client, model, current)
        if target is None:
            raise ConfigError(f"{model} v{current} replaced no earlier version; pass --to "
                              "VERSION to choose one")
        if target == current:
            raise ConfigError(f"v{target} is already the champion of {model}")
        try:
            client.get_model_version(model, target)
        except Exception:
            raise ConfigError(f"{model} has no version {target}") from None
        client.set_registered_model_alias(model, registry.CHAMPION, target)
        now = _now()
        try:
            entry = registry.append_history(client, model, {
                "action": "rollback", "model": model, "version": target, "previous": current,
                "approver": approver, "reason": reason, "at": now})
        except BaseException:
            _restore_alias(client, model, current)
            raise
    return entry


def history(model: str) -> list[dict[str, Any]]:
    """Every alias move, promotion, rejection and rollback of `model`, oldest first."""
    from workbench.tracking.store import tracking_client

    return registry.read_history(tracking_client(), model)


def verify_history(model: str) -> tuple[bool, str]:
    return verify(history(model))


def _previous(client: MlflowClient, model: str, current: str) -> str | None:
    for entry in reversed(registry.read_history(client, model)):
        if entry.get("action") in ("promoted", "rollback") and entry.get("version") == current:
            previous = entry.get("previous")
            return str(previous) if previous is not None else None
    return None


def _finished_run(client: MlflowClient, run_id: str) -> Any:
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ConfigError(f"no MLflow run {run_id!r}; check the run id") from None
    if run.info.status != "FINISHED":
        raise ConfigError(f"run {run_id} is {run.info.status}; only a FINISHED run can be "
                          "promoted")
    return run


@dataclass
class GatePlan:
    """Which gates to evaluate, and where each was asked for (a flag or a spec file)."""

    metrics: list[tuple[Requirement, str]] = field(default_factory=list)
    beats: list[tuple[str, float, str, str]] = field(default_factory=list)  # metric, margin, mode
    data: dict[str, str] = field(default_factory=dict)  # "validation"/"drift" -> source

    @classmethod
    def from_flags(cls, require: Sequence[str], beat: str | None, margin: float, mode: str,
                   *, data: bool) -> GatePlan:
        return cls([(parse_requirement(r), "flag") for r in require],
                   [(beat, margin, mode, "flag")] if beat else [],
                   {"validation": "flag", "drift": "flag"} if data else {})

    @classmethod
    def from_spec(cls, path: Path, spec: PipelineSpec, root: Path) -> GatePlan:
        source = str(path.relative_to(root))
        plan = cls()
        for gate in spec.gates:
            if gate.metric:
                plan.metrics.append((parse_requirement(gate.metric), source))
            if gate.beat_champion:
                metric, margin = parse_beat(gate.beat_champion)
                plan.beats.append((metric, margin, gate.mode, source))
            for kind in ("validation", "drift"):
                if getattr(gate, kind):
                    plan.data[kind] = source
        return plan

    def merge(self, other: GatePlan) -> GatePlan:
        return GatePlan(self.metrics + other.metrics, self.beats + other.beats,
                        {**other.data, **self.data})


def _evaluate(client: MlflowClient, model: str, run: Any, plan: GatePlan, expected: str | None,
              production: Any, training: Any) -> list[GateResult]:
    def sourced(gate: GateResult, source: str) -> GateResult:
        return GateResult(gate.gate, gate.passed, gate.detail, {**gate.inputs, "source": source})

    gates = [sourced(metric_gate(r, run.data.metrics), src) for r, src in plan.metrics]
    for metric, margin, mode, src in plan.beats:
        gates.append(sourced(_champion_gate(client, model, run, metric, margin, mode, expected),
                             src))
    if plan.data:
        if production is None:
            asked = ", ".join(f"{k} ({v})" for k, v in plan.data.items())
            raise ConfigError(f"the gates {asked} need recent production data: pass "
                              "--production-data PATH or set drift.data in the pipeline spec")
        gates += [sourced(g, plan.data[kind])
                  for kind, g in _data_gates(run, training, production, set(plan.data))]
    return gates


def _champion_gate(client: MlflowClient, model: str, run: Any, metric: str, margin: float,
                   mode: str, champion: str | None) -> GateResult:
    champion_value = None
    if champion is not None:
        version = client.get_model_version(model, champion)
        if version.run_id:
            champion_value = client.get_run(version.run_id).data.metrics.get(metric)
    return champion_gate(metric, margin, mode, run.data.metrics.get(metric), champion_value,
                         champion)


def _data_gates(run: Any, training: Any, production: Any,
                kinds: set[str]) -> list[tuple[str, GateResult]]:
    from workbench.monitoring.api import drift
    from workbench.monitoring.validation import validate
    from workbench.tracking.datasets import training_data_path

    training = training if training is not None else training_data_path(run)
    if training is None:
        raise ConfigError(f"run {run.info.run_id} names no training data on disk; pass "
                          "training_data= (--training-data) for the data gates")
    source = {"training": str(training), "production": str(production)
              if not hasattr(production, "shape") else f"DataFrame {production.shape}"}
    gates = []
    if "validation" in kinds:
        checked = validate(training, production)
        failed = [f"{c.name}[{c.column}]" if c.column else c.name for c in checked.failed]
        gates.append(("validation", GateResult(
            "data validation", checked.passed,
            "all checks pass" if checked.passed else f"failed: {', '.join(failed)}",
            {**source, "checks": len(checked.checks), "failed": failed})))
    if "drift" in kinds:
        result = drift(training, production)
        gates.append(("drift", GateResult(
            "no data drift", not result.drifted, result.summary(),
            {**source, "share": result.share, "drift_share": result.drift_share,
             "drifted_columns": result.drifted_columns, "engine": result.engine})))
    return gates


def _evidence(client: MlflowClient, run: Any) -> dict[str, Any]:
    """What an auditor asks: data, code, environment, notebook, seed."""
    tags = run.data.tags
    datasets = [{"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
                for d in (run.inputs.dataset_inputs if run.inputs else [])]
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
            "git_commit": tags.get("mlflow.source.git.commit") or tags.get("workbench.git.commit"),
            "git_dirty": tags.get("workbench.git.dirty"),
            "notebook": tags.get("workbench.notebook"),
            "notebook_sha256": tags.get("workbench.notebook.sha256"),
            "pipeline_run": tags.get("workbench.pipeline_run"),
            "seed": tags.get("workbench.seed"),
            "datasets": datasets, "environment_lock": f"runs:/{run.info.run_id}/environment/"
                                                      "requirements.lock",
            "metrics": dict(run.data.metrics)}


def _write_record(client: MlflowClient, record: PromotionRecord) -> None:
    """The approval record on the version (tags) and as a dossier artifact on the run."""
    tags = {"workbench.approved_by": record.approver, "workbench.approved_at": record.at,
            "workbench.approval_reason": record.reason[:5000],
            "workbench.previous_champion": record.previous_version or "",
            "workbench.gates": json.dumps([g.to_dict() for g in record.gates])[:5000],
            "workbench.git_commit": str(record.evidence.get("git_commit") or ""),
            "workbench.notebook": str(record.evidence.get("notebook") or ""),
            "workbench.notebook_sha256": str(record.evidence.get("notebook_sha256") or ""),
            "workbench.dataset_digests": ",".join(d["digest"] for d in
                                                  record.evidence.get("datasets", []))}
    for key, value in tags.items():
        client.set_model_version_tag(record.model, record.version, key, value)
    client.log_text(record.run_id, json.dumps(record.to_dict(), indent=2, default=str),
                    f"promotion/{record.model}-v{record.version}.json")


def _restore_alias(client: MlflowClient, model: str, version: str | None) -> None:
    if version is None:
        client.delete_registered_model_alias(model, registry.CHAMPION)
    else:
        client.set_registered_model_alias(model, registry.CHAMPION, version)
