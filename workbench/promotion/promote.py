"""`wb.promote`, `wb.approve`, `wb.decline`: move the `champion` alias only through gates.

A promotion reads the champion at its start (or takes `expect_version`), evaluates every gate,
and only if all pass takes the registry lock, checks the champion is still the one expected,
registers the run's model if needed, writes the approval record on the version, moves the
alias and appends the history entry. A refused or conflicting promotion moves nothing.
Every registry step goes through `registry`; rollback and unlock live in `rollback.py`.
"""

from __future__ import annotations

import json
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
    Actor,
    PromotionRecord,
    PromotionRequest,
    approval_tags,
    evidence,
    local_actor,
    now,
)
from workbench.promotion.rollback import apply_rollback, rollback, unlock

if TYPE_CHECKING:
    from mlflow import MlflowClient

UNSET: Any = object()

__all__ = ["UNSET", "GatePlan", "PromotionRecord", "PromotionRequest", "approve",
           "approve_as", "decline", "decline_as", "history", "preview", "preview_as", "promote",
           "promote_as", "rollback", "unlock", "verify_history"]


def promote(model: str, *, run_id: str, reason: str, approver: str | None = None,
            require: Sequence[str] = (), beat_champion: str | None = None,
            margin: float = 0.0, mode: str = "max", expect_version: Any = UNSET,
            four_eyes: bool = False, production_data: Any = None,
            training_data: Any = None, root: str | Path | None = None,
            spec_data: Any = None) -> PromotionRecord | PromotionRequest:
    """Make `run_id`'s model the champion of `model` if every gate passes.

    The gates are those given here plus the model's policy held in the registry (set from the
    pipeline spec whose `model:` is `model` when the pipeline is created or its spec changes;
    `root` defaults to the project). Against a governing tracking server (`mlflow server
    --app-name workbench`, as `workbench services` starts) the server runs all of it as the
    login it verified: `approver` defaults to that login and may not name anyone else. On the
    embedded store `approver` is required and recorded as not verified.

    Under a four-eyes policy (`four_eyes=True`, or the model's policy) the gates are checked now
    and a pending request is returned for someone else to `approve`.

    `production_data` (a path or DataFrame of recent production data) adds two data gates: the
    run's training data (`training_data`, else the path its dataset input names, checked
    against the digest the run recorded) must pass `wb.validate` against it and must not drift
    from it (`wb.drift`). Data gates of the policy are checked against `production_data`,
    else `spec_data` (which adds no gate; the monitor passes the drift window), else the
    policy's `drift.data`.
    """
    from workbench.governance import remote

    spec_gates = _spec_gates(model, root)
    server = remote.governing_server()
    if server is not None:
        return server.promote(model, run_id=run_id, approver=approver, reason=reason,
                              require=require, beat_champion=beat_champion, margin=margin,
                              mode=mode, expect_version=expect_version, four_eyes=four_eyes,
                              production_data=production_data, training_data=training_data,
                              spec_data=spec_data, spec_gates=spec_gates)
    from workbench.tracking.store import tracking_client

    who = local_actor(approver, reason)
    client = tracking_client()
    if spec_gates is not None:  # one person: the spec's gates become the registry's
        _record_spec_gates(client, model, spec_gates, who)
    return promote_as(client, who, model, run_id=run_id, reason=reason, require=require,
                      beat_champion=beat_champion, margin=margin, mode=mode,
                      expect_version=expect_version, four_eyes=four_eyes,
                      production_data=production_data, training_data=training_data,
                      spec_data=spec_data)


def promote_as(client: MlflowClient, who: Actor, model: str, *, run_id: str, reason: str,
               require: Sequence[str] = (), beat_champion: str | None = None,
               margin: float = 0.0, mode: str = "max", expect_version: Any = UNSET,
               four_eyes: bool = False, production_data: Any = None,
               training_data: Any = None, spec_data: Any = None
               ) -> PromotionRecord | PromotionRequest:
    """`promote` as `who`, on `client`'s store: in the caller's process on the embedded
    store, in the tracking server for a governed one."""
    run = _finished_run(client, run_id)
    registry.model_source(client, run)  # no model: refused before anything is written
    expected = registry.champion_version(client, model) if expect_version is UNSET \
        else (None if expect_version is None else str(expect_version))
    tags = _tags_or_none(client, model)
    gates = _gates(client, model, run, expected, require, beat_champion, margin, mode,
                   production_data, training_data, spec_data, tags)
    at = now()
    registered = registry.ensure_registered(client, model)
    approver = who.name
    failed = [g for g in gates if not g.passed]
    if failed:
        with registry.promotion_lock(client, model):
            registry.append_history(client, model, {
                "action": "rejected", "model": model, "run_id": run_id, "approver": approver,
                "reason": reason, "at": at, "champion": expected, **who.fields(),
                "gates": [g.to_dict() for g in gates]},
                champion=registry.champion_version(client, model))
        raise PromotionRefused(f"promotion of run {run_id} to {model} refused; failing gates: "
                               + "; ".join(f"{g.gate} ({g.detail})" for g in failed))
    if four_eyes or registered.get(registry.FOUR_EYES_TAG, "") == "true":
        with registry.promotion_lock(client, model):
            entry = registry.append_history(client, model, {
                "action": "requested", "model": model, "run_id": run_id, "requester": approver,
                "reason": reason, "at": at, "champion": expected, **who.fields(),
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
    dialog shows them before anyone gives a reason). A governing server evaluates them."""
    from workbench.governance import remote

    spec_gates = _spec_gates(model, root)
    server = remote.governing_server()
    if server is not None:
        return server.preview(model, run_id=run_id, require=require,
                              beat_champion=beat_champion, margin=margin, mode=mode,
                              production_data=production_data, training_data=training_data,
                              spec_gates=spec_gates)
    from workbench.tracking.store import tracking_client

    return preview_as(tracking_client(), model, run_id=run_id, require=require,
                      beat_champion=beat_champion, margin=margin, mode=mode,
                      production_data=production_data, training_data=training_data,
                      spec_gates=spec_gates)


def preview_as(client: MlflowClient, model: str, *, run_id: str, require: Sequence[str] = (),
               beat_champion: str | None = None, margin: float = 0.0, mode: str = "max",
               production_data: Any = None, training_data: Any = None,
               spec_gates: dict[str, Any] | None = None) -> list[GateResult]:
    run = _finished_run(client, run_id)
    registry.model_source(client, run)
    tags = _tags_or_none(client, model) or {}
    if spec_gates is not None:  # what the policy would hold once the spec is recorded
        from workbench.governance.policy import Policy, relaxes

        held = Policy.from_tags(tags)
        if not relaxes(held, held.updated(gates=spec_gates)):
            tags = {**tags, registry.GATES_POLICY_TAG: json.dumps(spec_gates)}
    return _gates(client, model, run, registry.champion_version(client, model), require,
                  beat_champion, margin, mode, production_data, training_data, None, tags)


def _tags_or_none(client: MlflowClient, model: str) -> dict[str, str] | None:
    try:
        return registry.model_tags(client, model)
    except ConfigError:  # not registered yet: no policy
        return None


def _spec_gates(model: str, root: str | Path | None) -> dict[str, Any] | None:
    """The gates the project's pipeline spec for `model` declares (policy JSON), or None."""
    base = project_root(root)
    declared = pipeline_for_model(model, base)
    if declared is None:
        return None
    return GatePlan.from_spec(*declared, base).to_policy()


def _record_spec_gates(client: MlflowClient, model: str, gates: dict[str, Any],
                       who: Actor) -> None:
    """On a store nobody governs: the spec's gates, when they differ, become the model's
    policy in the registry (a history entry). A governing server applies the owner/admin rule
    instead (`workbench.governance.policy`)."""
    from workbench.governance import policy

    tags = _tags_or_none(client, model) or {}
    held = policy.Policy.from_tags(tags)
    if not policy.worth_holding(held, gates):
        return
    if registry.is_governed(tags):
        raise ConfigError(f"{model} is governed by a tracking server; change its gates there: "
                          f"workbench policy {model} --from-spec")
    policy.apply(client, model, held.updated(gates=gates), who,
                 f"gates declared in {gates.get('source') or 'the pipeline spec'}",
                 may_relax=True)


def _gates(client: MlflowClient, model: str, run: Any, expected: str | None,
           require: Sequence[str], beat_champion: str | None, margin: float, mode: str,
           production_data: Any, training_data: Any, spec_data: Any,
           tags: dict[str, str] | None) -> list[GateResult]:
    """The flags' gates and those of the model's policy in the registry, evaluated on
    `run`."""
    from workbench.governance.policy import Policy

    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    wanted = GatePlan.from_flags(require, beat_champion, margin, mode,
                                 data=production_data is not None)
    held = Policy.from_tags(tags or {}).gates
    if held is not None:
        policy = GatePlan.from_policy(held)
        wanted = wanted.merge(policy)
        if production_data is None:
            production_data = spec_data if spec_data is not None else policy.drift_data
    return evaluate(client, model, run, wanted, expected, production_data, training_data)


def approve(request_id: str, *, reason: str, approver: str | None = None) -> PromotionRecord:
    """Complete a four-eyes request (a promotion or a rollback): a different person approves
    (a different login, on a governing server); the champion must not have moved since the
    request (else PromotionConflict, nothing moved)."""
    from workbench.governance import remote

    server = remote.governing_server()
    if server is not None:
        return server.approve(request_id, approver=approver, reason=reason)
    from workbench.tracking.store import tracking_client

    return approve_as(tracking_client(), local_actor(approver, reason, "a decision"),
                      request_id, reason)


def approve_as(client: MlflowClient, who: Actor, request_id: str, reason: str
               ) -> PromotionRecord:
    model, request = registry.pending_request(client, request_id)
    kind = request.get("kind", "promotion")
    if same_person(who.name, request.get("requester")):
        raise ConfigError(f"four-eyes policy: {who.name} requested this {kind} and cannot "
                          "approve it; ask someone else")
    if same_person(who.login, request.get("authenticated")):
        raise ConfigError(f"four-eyes policy: this {kind} was requested under the login "
                          f"{who.login!r}, which is approving it too; approve with your own "
                          "tracking-server login (`workbench services add-user NAME` makes "
                          "one)")
    if request.get("kind") == "rollback":
        return apply_rollback(client, model, request, who.name, reason, who,
                              request_id=request_id)
    run = _finished_run(client, str(request["run_id"]))
    gates = [GateResult(**g) for g in request.get("gates", [])]
    return _apply(client, model, run, who.name, reason, now(), gates,
                  request.get("champion"), who, requester=str(request["requester"]),
                  request_id=request_id)


def decline(request_id: str, *, reason: str, approver: str | None = None) -> dict[str, Any]:
    """Close a pending request without promoting (the requester may withdraw it too)."""
    from workbench.governance import remote

    server = remote.governing_server()
    if server is not None:
        return server.decline(request_id, approver=approver, reason=reason)
    from workbench.tracking.store import tracking_client

    return decline_as(tracking_client(), local_actor(approver, reason, "a decision"),
                      request_id, reason)


def decline_as(client: MlflowClient, who: Actor, request_id: str, reason: str
               ) -> dict[str, Any]:
    model, _ = registry.request_model(request_id)
    with registry.promotion_lock(client, model):  # checked under the lock: decided only once
        tail = registry.open_history(client, model)
        _, request = registry.pending_request(client, request_id)
        return registry.append_history(client, model, {
            "action": "declined", "model": model, "run_id": request.get("run_id"),
            "request": request_id, "requester": request["requester"], "approver": who.name,
            "reason": reason, "at": now(), **who.fields()},
            champion=registry.champion_version(client, model), tail=tail)


def _apply(client: MlflowClient, model: str, run: Any, approver: str, reason: str, at: str,
           gates: list[GateResult], expected: str | None, who: Actor, *,
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
        proof = {**evidence(run), "requester": requester, "request": request_id,
                 **who.fields()}
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
                "requester": requester, "request": request_id, **who.fields(),
                "gates": [g.to_dict() for g in gates]}, champion=version, tail=tail)
        except BaseException:  # no alias move, and no approval, without its history entry
            registry.set_champion(client, model, current)
            registry.withdraw_approval(client, model, version)
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
