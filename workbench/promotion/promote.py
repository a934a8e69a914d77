"""`wb.promote`, `wb.approve`, `wb.decline`: move the `champion` alias only through gates.

A promotion reads the champion at its start (or takes `expect_version`), evaluates every gate,
and only if all pass takes the registry lock, checks the champion is still the one expected,
registers the run's model if needed, writes the approval record on the version, moves the
alias and appends the history entry. A refused or conflicting promotion moves nothing.
Every registry step goes through `registry`; rollback and unlock live in `rollback.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import project_root
from workbench.errors import ConfigError, PromotionConflict, PromotionRefused
from workbench.pipelines.listing import pipeline_for_model
from workbench.promotion import registry
from workbench.promotion.gates import GateResult
from workbench.promotion.ledger import same_person
from workbench.promotion.plan import GatePlan, evaluate
from workbench.promotion.queries import history, verify_history
from workbench.promotion.records import (
    PromotionRecord,
    PromotionRequest,
    actor,
    approval_tags,
    evidence,
    now,
)
from workbench.promotion.rollback import apply_rollback, rollback, unlock

if TYPE_CHECKING:
    from mlflow import MlflowClient

UNSET: Any = object()

__all__ = ["UNSET", "GatePlan", "PromotionRecord", "PromotionRequest", "approve", "decline",
           "history", "preview", "promote", "rollback", "unlock", "verify_history"]


def promote(model: str, *, run_id: str, approver: str, reason: str,
            require: Sequence[str] = (), beat_champion: str | None = None,
            margin: float = 0.0, mode: str = "max", expect_version: Any = UNSET,
            four_eyes: bool = False, production_data: Any = None,
            training_data: Any = None, root: str | Path | None = None,
            spec_data: Any = None, authenticated_user: str | None = None
            ) -> PromotionRecord | PromotionRequest:
    """Make `run_id`'s model the champion of `model` if every gate passes.

    The gates are those given here plus those the pipeline producing `model` declares (the
    spec in `root/pipelines/` whose `model:` is `model`; `root` defaults to the current
    directory).

    Under a four-eyes policy (`four_eyes=True`, or the model's `workbench.policy.four_eyes` tag)
    `approver` is the requester: the gates are checked now and a pending request is returned for
    someone else to `approve`.

    `production_data` (a path or DataFrame of recent production data) adds two data gates: the
    run's training data (`training_data`, else the path its dataset input names, checked
    against the digest the run recorded) must pass `wb.validate` against it and must not drift
    from it (`wb.drift`). Data gates the spec declares are checked against `production_data`,
    else `spec_data` (which adds no gate; the monitor passes the drift window), else the spec's
    `drift.data`.

    `authenticated_user`: the identity a caller authenticated (dashboard, Jupyter), recorded
    beside `approver`; without it, MLFLOW_TRACKING_USERNAME when set.
    """
    from workbench.tracking.store import tracking_client

    who = actor(approver, reason, authenticated_user)
    client = tracking_client()
    run = _finished_run(client, run_id)
    registry.model_source(client, run)  # no model: refused before anything is written
    expected = registry.champion_version(client, model) if expect_version is UNSET \
        else (None if expect_version is None else str(expect_version))
    gates = _gates(client, model, run, expected, require, beat_champion, margin, mode,
                   production_data, training_data, root, spec_data)
    at = now()
    registered = registry.ensure_registered(client, model)
    failed = [g for g in gates if not g.passed]
    if failed:
        with registry.promotion_lock(client, model):
            registry.append_history(client, model, {
                "action": "rejected", "model": model, "run_id": run_id, "approver": approver,
                "reason": reason, "at": at, "champion": expected, **who,
                "gates": [g.to_dict() for g in gates]},
                champion=registry.champion_version(client, model))
        raise PromotionRefused(f"promotion of run {run_id} to {model} refused; failing gates: "
                               + "; ".join(f"{g.gate} ({g.detail})" for g in failed))
    if four_eyes or registered.get(registry.FOUR_EYES_TAG, "") == "true":
        with registry.promotion_lock(client, model):
            entry = registry.append_history(client, model, {
                "action": "requested", "model": model, "run_id": run_id, "requester": approver,
                "reason": reason, "at": at, "champion": expected, **who,
                "gates": [g.to_dict() for g in gates]},
                champion=registry.champion_version(client, model))
        return PromotionRequest(f"{model}/{entry['seq']}", model, run_id, approver, reason, at,
                                expected, gates)
    return _apply(client, model, run, approver, reason, at, gates, expected, who,
                  requester=None)


def preview(model: str, *, run_id: str, require: Sequence[str] = (),
            beat_champion: str | None = None, margin: float = 0.0, mode: str = "max",
            production_data: Any = None, training_data: Any = None,
            root: str | Path | None = None) -> list[GateResult]:
    """The gates `promote` would check for `run_id` now, evaluated, with nothing written (a
    dialog shows them before anyone gives a reason)."""
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    run = _finished_run(client, run_id)
    registry.model_source(client, run)
    return _gates(client, model, run, registry.champion_version(client, model), require,
                  beat_champion, margin, mode, production_data, training_data, root, None)


def _gates(client: MlflowClient, model: str, run: Any, expected: str | None,
           require: Sequence[str], beat_champion: str | None, margin: float, mode: str,
           production_data: Any, training_data: Any, root: str | Path | None,
           spec_data: Any) -> list[GateResult]:
    """The flags' gates and those of the pipeline producing `model`, evaluated on `run`."""
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
    return evaluate(client, model, run, wanted, expected, production_data, training_data)


def approve(request_id: str, *, approver: str, reason: str,
            authenticated_user: str | None = None) -> PromotionRecord:
    """Complete a four-eyes request (a promotion or a rollback): a different person approves;
    the champion must not have moved since the request (else PromotionConflict, nothing
    moved)."""
    from workbench.tracking.store import tracking_client

    who = actor(approver, reason, authenticated_user, "a decision")
    client = tracking_client()
    model, request = registry.pending_request(client, request_id)
    kind = request.get("kind", "promotion")
    if same_person(approver, request.get("requester")):
        raise ConfigError(f"four-eyes policy: {approver} requested this {kind} and cannot "
                          "approve it; ask someone else")
    if same_person(who["authenticated"], request.get("authenticated")):
        raise ConfigError(f"four-eyes policy: this {kind} was requested under the login "
                          f"{who['authenticated']!r}, which is approving it too; approve with "
                          "your own tracking-server login (MLFLOW_TRACKING_USERNAME; "
                          "`workbench services add-user NAME` makes one)")
    if request.get("kind") == "rollback":
        return apply_rollback(client, model, request, approver, reason, who,
                              request_id=request_id)
    run = _finished_run(client, str(request["run_id"]))
    gates = [GateResult(**g) for g in request.get("gates", [])]
    return _apply(client, model, run, approver, reason, now(), gates,
                  request.get("champion"), who, requester=str(request["requester"]),
                  request_id=request_id)


def decline(request_id: str, *, approver: str, reason: str,
            authenticated_user: str | None = None) -> dict[str, Any]:
    """Close a pending request without promoting (the requester may withdraw it too)."""
    from workbench.tracking.store import tracking_client

    who = actor(approver, reason, authenticated_user, "a decision")
    client = tracking_client()
    model, _ = registry.request_model(request_id)
    with registry.promotion_lock(client, model):  # checked under the lock: decided only once
        _, request = registry.pending_request(client, request_id)
        return registry.append_history(client, model, {
            "action": "declined", "model": model, "run_id": request.get("run_id"),
            "request": request_id, "requester": request["requester"], "approver": approver,
            "reason": reason, "at": now(), **who},
            champion=registry.champion_version(client, model))


def _apply(client: MlflowClient, model: str, run: Any, approver: str, reason: str, at: str,
           gates: list[GateResult], expected: str | None, who: dict[str, Any], *,
           requester: str | None, request_id: str | None = None) -> PromotionRecord:
    """Under the lock: check the champion, register, record, move the alias, log history."""
    run_id = str(run.info.run_id)
    with registry.promotion_lock(client, model) as lease:
        if request_id is not None:  # decided by someone else since we read it?
            registry.pending_request(client, request_id)
        tail = registry.open_history(client, model)  # a broken history: nothing registered
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
        proof = {**evidence(run), "requester": requester, "request": request_id, **who}
        record = PromotionRecord(model, "", current, registry.CHAMPION, run_id, approver,
                                 reason, at, gates, proof)
        # the approval tags ride on the version's creation: one call, not one per tag
        record.version = version = registry.version_for_run(client, model, run,
                                                            approval_tags(record))
        registry.log_record(client, run_id, model, version, record.to_dict())
        registry.still_held(lease, model)
        registry.set_champion(client, model, version)
        try:
            registry.append_history(client, model, {
                "action": "promoted", "model": model, "version": version, "previous": current,
                "run_id": run_id, "approver": approver, "reason": reason, "at": at,
                "requester": requester, "request": request_id, **who,
                "gates": [g.to_dict() for g in gates]}, champion=version, tail=tail)
        except BaseException:  # no alias move without its history entry
            registry.set_champion(client, model, current)
            raise
    return record


def _finished_run(client: MlflowClient, run_id: str) -> Any:
    """The run, or its copy where `workbench migrate` moved it (a request names the old id)."""
    from workbench.tracking.migrated import find_run

    try:
        run = find_run(client, run_id)
    except Exception:
        raise ConfigError(f"no MLflow run {run_id!r}; check the run id") from None
    if run.info.status != "FINISHED":
        raise ConfigError(f"run {run_id} is {run.info.status}; only a FINISHED run can be "
                          "promoted")
    return run
