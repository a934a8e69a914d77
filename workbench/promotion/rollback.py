"""`wb.rollback` and `wb.unlock`: governed moves outside a promotion.

A rollback walks back along the champions the history records (never forward: a version
rolled back from is off the path), names who and why, and under a four-eyes policy becomes a
request like any promotion, unless the model's `workbench.policy.rollback` tag is `emergency`.
`unlock` takes over the lock of a holder that stopped heart-beating, and records it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError, PromotionConflict
from workbench.promotion import ledger, registry
from workbench.promotion.records import Actor, PromotionRecord, local_actor, now

if TYPE_CHECKING:
    from mlflow import MlflowClient


def rollback(model: str, *, reason: str, approver: str | None = None,
             to_version: str | int | None = None) -> dict[str, Any]:
    """Move `champion` back to the champion before it (or to `to_version`, an earlier champion
    on the way back). Returns the history entry: `rollback`, or under a four-eyes policy the
    pending `requested` entry with its `request_id`. A governing tracking server does it as
    the login it verified."""
    from workbench.governance import remote

    server = remote.governing_server()
    if server is not None:
        return server.rollback(model, approver=approver, reason=reason, to_version=to_version)
    from workbench.tracking.store import tracking_client

    return rollback_as(tracking_client(), local_actor(approver, reason, "a rollback"), model,
                       reason=reason, to_version=to_version)


def rollback_as(client: MlflowClient, who: Actor, model: str, *, reason: str,
                to_version: str | int | None = None) -> dict[str, Any]:
    approver = who.name
    tags = registry.model_tags(client, model)
    four_eyes = tags.get(registry.FOUR_EYES_TAG, "") == "true"
    emergency = four_eyes and registry.rollback_is_emergency(tags)
    with registry.promotion_lock(client, model) as lease:
        tail = registry.open_history(client, model)
        current = registry.champion_version(client, model)
        target = _target(client, model, tail.entries, current, to_version)
        at = now()
        if four_eyes and not emergency:
            entry = registry.append_history(client, model, {
                "action": "requested", "kind": "rollback", "model": model, "version": target,
                "run_id": registry.version_run(client, model, target) or None,
                "requester": approver, "reason": reason, "at": at, "champion": current,
                **who.fields()}, champion=current, tail=tail)
            return {**entry, "request_id": f"{model}/{entry['seq']}"}
        registry.still_held(lease, model)
        return _move(client, model, target, current, tail, {
            "approver": approver, "reason": reason, "at": at, **who.fields(),
            **({"emergency": True} if emergency else {})})


def apply_rollback(client: MlflowClient, model: str, request: dict[str, Any], approver: str,
                   reason: str, who: Actor, *, request_id: str) -> PromotionRecord:
    """The approved rollback request: the champion must still be the one it expected."""
    with registry.promotion_lock(client, model) as lease:
        registry.pending_request(client, request_id)  # not decided meanwhile
        current = registry.champion_version(client, model)
        if current != request.get("champion"):
            raise PromotionConflict(
                f"the champion of {model} moved to v{current} since rollback request "
                f"{request_id} was made (it expected v{request.get('champion')}); nothing was "
                f"moved: decline it (`workbench decline {request_id}`) and ask again")
        tail = registry.open_history(client, model)
        target = _target(client, model, tail.entries, current, request["version"])
        registry.still_held(lease, model)
        at = now()
        _move(client, model, target, current, tail, {
            "approver": approver, "reason": reason, "at": at, "requester": request["requester"],
            "request": request_id, **who.fields()})
    return PromotionRecord(model, target, current, registry.CHAMPION,
                           str(request.get("run_id") or ""), approver, reason, at, [],
                           {"rollback": True, "requester": request["requester"],
                            "request": request_id, **who.fields()})


def unlock(model: str, *, reason: str, approver: str | None = None) -> dict[str, Any]:
    """Clear the promotion lock a crashed process left (one still heart-beating is refused),
    recorded in the history with the holder it cleared."""
    from workbench.governance import remote

    server = remote.governing_server()
    if server is not None:
        return server.unlock(model, approver=approver, reason=reason)
    from workbench.tracking.store import tracking_client

    return unlock_as(tracking_client(), local_actor(approver, reason, "an unlock"), model,
                     reason=reason)


def unlock_as(client: MlflowClient, who: Actor, model: str, *, reason: str) -> dict[str, Any]:
    approver = who.name
    registry.model_tags(client, model)
    lease, info = registry.break_lock(client, model)
    try:
        return registry.append_history(client, model, {
            "action": "unlocked", "model": model, "approver": approver, "reason": reason,
            "at": now(), **who.fields(), "holder": info.holder,
            "last_heartbeat_s": round(info.age_s, 1)},
            champion=registry.champion_version(client, model))
    finally:
        lease.release()


def _target(client: MlflowClient, model: str, entries: list[dict[str, Any]],
            current: str | None, to_version: str | int | None) -> str:
    if current is None:
        raise ConfigError(f"{model} has no champion to roll back")
    path = ledger.champion_path(entries)
    if path and path[-1] != current:
        back = [v for v in path if v != current]
        if to_version is None:
            raise ConfigError(f"the champion of {model} is v{current} but the history left "
                              f"v{path[-1]} (moved outside workbench); pass --to VERSION, one "
                              f"of {_listing(back)}")
    else:
        back = path[:-1]
    if to_version is None:
        if not back:
            raise ConfigError(f"{model} v{current} replaced no earlier version; there is no "
                              "known-good champion to roll back to (promote one instead)")
        return back[-1]
    target = str(to_version)
    run_id = registry.version_run(client, model, target)  # ConfigError: no such version
    if target == current:
        raise ConfigError(f"v{target} is already the champion of {model}")
    if target not in back:
        was = "was rolled back from, so it is not on the way back" \
            if target in ledger.ever_champion(entries) else "was never champion"
        promote = f"workbench promote {model} --run {run_id or 'RUN_ID'} --approver WHO " \
                  "--reason WHY"
        raise ConfigError(f"v{target} of {model} {was} (known-good: "
                          f"{_listing(back) or 'none'}); to make it champion, promote it: "
                          f"{promote}")
    return target


def _move(client: MlflowClient, model: str, target: str, current: str | None,
          tail: registry.Tail, event: dict[str, Any]) -> dict[str, Any]:
    registry.set_champion(client, model, target)
    try:
        return registry.append_history(client, model, {
            "action": "rollback", "model": model, "version": target, "previous": current,
            **event}, champion=target, tail=tail)
    except BaseException:  # no alias move without its history entry
        registry.set_champion(client, model, current)
        raise


def _listing(versions: list[str]) -> str:
    return ", ".join(f"v{v}" for v in reversed(versions))
