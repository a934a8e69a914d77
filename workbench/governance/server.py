"""`mlflow server --app-name workbench`: MLflow's basic auth plus workbench governance.

Loaded through MLflow's own plugin point (the `mlflow.app` entry point `workbench`, as
`basic-auth` is). It adds JSON endpoints under /api/2.0/workbench/governance (described in
openapi.yml beside this file) that run workbench's promotion core in the server as the login
basic auth verified, and a guard (`guard.py`) that refuses every other write of governed
state. The core reaches the server's own stores in process (never through its HTTP API, so
the guard does not apply to it); the history key is read from this process's environment
(WORKBENCH_HISTORY_KEY) and never leaves it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError, WorkbenchError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.promotion.records import Actor

PREFIX = "/api/2.0/workbench/governance"


def create_app() -> Any:
    """The app factory `mlflow server --app-name workbench` loads in each server worker."""
    from mlflow.server import app
    from mlflow.server.auth import BEFORE_REQUEST_VALIDATORS
    from mlflow.server.auth import create_app as basic_auth

    from workbench.governance import guard

    _serve_artifacts_in_process()
    for route, methods, view in ROUTES:
        app.add_url_rule(PREFIX + route, endpoint=f"workbench_{view.__name__}",
                         view_func=_json_errors(view), methods=list(methods))
        for method in methods:  # any login may call them; each decides who may do what
            BEFORE_REQUEST_VALIDATORS[(PREFIX + route, method)] = lambda: True
    served = basic_auth(app)
    app.before_request(guard.before_request)  # after basic auth's: the login is known
    return served


def _serve_artifacts_in_process() -> None:
    """The core logs records and reads models through `mlflow-artifacts:` URIs, which
    elsewhere travel over this server's HTTP API; here they map straight onto the
    artifact destination, as the server's own artifact handlers do."""
    from urllib.parse import urlparse

    from mlflow.server import ARTIFACTS_DESTINATION_ENV_VAR, BACKEND_STORE_URI_ENV_VAR
    from mlflow.store.artifact.artifact_repository_registry import (
        _artifact_repository_registry as repositories,
    )

    destination = os.environ.get(ARTIFACTS_DESTINATION_ENV_VAR)
    if destination:
        def local(artifact_uri: str, tracking_uri: str | None = None,
                  registry_uri: str | None = None) -> Any:
            path = urlparse(artifact_uri).path.lstrip("/")
            return repositories.get_artifact_repository(f"{destination.rstrip('/')}/{path}")

        repositories.register("mlflow-artifacts", local)
    # the core's own defaults: this server's store; experiments under its artifact root
    os.environ["MLFLOW_TRACKING_URI"] = os.environ.get(BACKEND_STORE_URI_ENV_VAR, "")
    os.environ["WORKBENCH_ARTIFACT_ROOT"] = ""
    os.environ["WORKBENCH_SCORE_IN_CHILD"] = "1"  # no model is unpickled in this process


@functools.lru_cache(maxsize=1)
def store_client() -> MlflowClient:
    """An MlflowClient on this server's own backend and registry stores (in process)."""
    from mlflow import MlflowClient
    from mlflow.server import BACKEND_STORE_URI_ENV_VAR, REGISTRY_STORE_URI_ENV_VAR

    from workbench.tracking.store import quiet_mlflow

    quiet_mlflow()
    backend = os.environ[BACKEND_STORE_URI_ENV_VAR]
    return MlflowClient(tracking_uri=backend,
                        registry_uri=os.environ.get(REGISTRY_STORE_URI_ENV_VAR) or backend)


# --- who asks --------------------------------------------------------------------------------

def login() -> str:
    """The login MLflow's basic auth verified for this request."""
    from flask import g, request

    user = getattr(g, "mlflow_authenticated_user", None) or (
        request.authorization.username if request.authorization else None)
    if not user:
        raise ConfigError("no verified login on this request")
    return str(user)


def is_admin(user: str) -> bool:
    from mlflow.server.auth import store

    return bool(store.get_user(user).is_admin)


def is_owner(user: str, model: str) -> bool:
    """MANAGE permission on the registered model (its creator has it) or admin."""
    from mlflow.server.auth import store

    if is_admin(user):
        return True
    try:
        return str(store.get_registered_model_permission(model, user).permission) == "MANAGE"
    except Exception:  # no explicit grant: the default permission is not ownership
        return False


def _under_rule(client: MlflowClient, model: str, user: str) -> None:
    """Before any governance action on `model`: a new model is registered for `user` (its
    owner, as if they had created it) and governed from its first entry; a model with a
    history written elsewhere must be adopted first (its entries carry no key of ours)."""
    from mlflow.server.auth import store

    from workbench.promotion import registry

    try:
        tags = registry.model_tags(client, model)
    except ConfigError:
        registry.ensure_registered(client, model)
        with contextlib.suppress(Exception):  # already granted (a concurrent promotion)
            store.grant_user_permission(user, "registered_model", model, "MANAGE")
        tags = {}
    if registry.is_governed(tags):
        return
    if any(key.startswith(registry.HISTORY_TAG) for key in tags):
        raise ConfigError(f"{model} has a history written outside this tracking server; put "
                          f"it under the server's rule first: workbench governance adopt "
                          f"{model} --reason WHY")
    _govern(client, model)


def _request_model(request_id: str) -> str:
    from workbench.promotion import registry

    return registry.request_model(request_id)[0]


# --- endpoints -------------------------------------------------------------------------------

def _body() -> dict[str, Any]:
    from flask import request

    found = request.get_json(force=True, silent=True)
    if not isinstance(found, dict):
        raise ConfigError("the request body must be a JSON object")
    return found


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} is required")
    return value


def _number(body: dict[str, Any], name: str) -> float:
    try:
        return float(body.get(name) or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {body.get(name)!r}") from None


def _optional(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return str(value) if value not in (None, "") else None


def info() -> Any:
    user = login()
    return {"governance": 1, "login": user, "admin": is_admin(user)}


def promote() -> Any:
    from workbench.governance import data_access
    from workbench.promotion.promote import UNSET, promote_as
    from workbench.promotion.records import PromotionRequest, verified_actor

    body, user = _body(), login()
    model, reason = _text(body, "model"), _text(body, "reason")
    who = verified_actor(user, _optional(body, "approver"), reason)
    client = store_client()
    _under_rule(client, model, user)
    _spec_policy(client, model, body.get("spec_gates"), user)
    outcome = promote_as(
        client, who, model, run_id=_text(body, "run_id"), reason=reason,
        require=[str(r) for r in body.get("require") or []],
        beat_champion=_optional(body, "beat_champion"), margin=_number(body, "margin"),
        mode=str(body.get("mode") or "max"),
        expect_version=body.get("expect_version", UNSET),
        four_eyes=bool(body.get("four_eyes")),
        production_data=data_access.readable(body.get("production_data")),
        training_data=data_access.readable(body.get("training_data")),
        spec_data=data_access.readable(body.get("spec_data")))
    requested = isinstance(outcome, PromotionRequest)
    return {"outcome": "requested" if requested else "promoted", "record": outcome.to_dict()}


def _spec_policy(client: MlflowClient, model: str, gates: Any, user: str) -> None:
    """The caller's pipeline spec declares gates: recorded when they only tighten the
    registry's and the caller owns the model; otherwise the registry's stand."""
    from workbench.governance import policy
    from workbench.promotion.records import Actor

    if not isinstance(gates, dict):
        return
    from workbench.governance import data_access

    held = policy.Policy.from_tags(_tags(client, model))
    wanted = held.updated(gates=gates)
    if not policy.worth_holding(held, gates) or policy.relaxes(held, wanted) or \
            not is_owner(user, model):
        return  # relaxing takes `workbench policy` by an admin; tightening, the owner
    data_access.check_gate_paths(gates)
    policy.apply(client, model, wanted, Actor(user, user),
                 f"gates declared in {gates.get('source') or 'the pipeline spec'}",
                 may_relax=False)


def _tags_or_absent(client: MlflowClient, model: str) -> set[str]:
    """{model} when it is registered, else an empty set."""
    from workbench.promotion import registry

    try:
        registry.model_tags(client, model)
    except ConfigError:
        return set()
    return {model}


def _tags(client: MlflowClient, model: str) -> dict[str, str]:
    from workbench.promotion import registry

    try:
        return registry.model_tags(client, model)
    except ConfigError:
        return {}


def preview() -> Any:
    from workbench.governance import data_access
    from workbench.promotion.promote import preview_as

    body = _body()
    login()
    gates = preview_as(store_client(), _text(body, "model"), run_id=_text(body, "run_id"),
                       require=[str(r) for r in body.get("require") or []],
                       beat_champion=_optional(body, "beat_champion"),
                       margin=_number(body, "margin"), mode=str(body.get("mode") or "max"),
                       production_data=data_access.readable(body.get("production_data")),
                       training_data=data_access.readable(body.get("training_data")),
                       spec_gates=body.get("spec_gates") if isinstance(body.get("spec_gates"),
                                                                       dict) else None)
    return {"gates": [g.to_dict() for g in gates]}


def _deciding(body: dict[str, Any], model: str, what: str
              ) -> tuple[MlflowClient, Actor, str]:
    """(the store, who decides: the verified login, the reason) for an action on `model`."""
    from workbench.promotion.records import verified_actor

    user, reason = login(), _text(body, "reason")
    client = store_client()
    _under_rule(client, model, user)
    return client, verified_actor(user, _optional(body, "approver"), reason, what), reason


def approve() -> Any:
    from workbench.promotion.promote import approve_as

    body = _body()
    request_id = _text(body, "request_id")
    client, who, reason = _deciding(body, _request_model(request_id), "a decision")
    return {"outcome": "promoted", "record": approve_as(client, who, request_id,
                                                        reason).to_dict()}


def decline() -> Any:
    from workbench.promotion.promote import decline_as

    body = _body()
    request_id = _text(body, "request_id")
    client, who, reason = _deciding(body, _request_model(request_id), "a decision")
    return decline_as(client, who, request_id, reason)


def rollback() -> Any:
    from workbench.promotion.rollback import rollback_as

    body = _body()
    model = _text(body, "model")
    client, who, reason = _deciding(body, model, "a rollback")
    return rollback_as(client, who, model, reason=reason,
                       to_version=_optional(body, "to_version"))


def unlock() -> Any:
    from workbench.promotion.rollback import unlock_as

    body = _body()
    model = _text(body, "model")
    client, who, reason = _deciding(body, model, "an unlock")
    return unlock_as(client, who, model, reason=reason)


def set_policy() -> Any:
    """Change a model's policy: its owner (MANAGE) may tighten it, only an admin relaxes it."""
    from workbench.governance import data_access, policy
    from workbench.promotion.records import verified_actor

    body, user = _body(), login()
    model, reason = _text(body, "model"), _text(body, "reason")
    who = verified_actor(user, None, reason, "a policy change")
    client = store_client()
    if model in _tags_or_absent(client, model) and not is_owner(user, model):
        raise policy.PolicyRefused(f"only the owner of {model} (MANAGE permission) or an admin "
                                   f"may change its policy; {user} is neither")
    rollback_choice = _optional(body, "rollback")
    gates = body.get("gates") if isinstance(body.get("gates"), dict) else None
    data_access.check_gate_paths(gates)
    four_eyes = body.get("four_eyes")
    held = policy.Policy.from_tags(_tags(client, model))
    wanted = held.updated(four_eyes=None if four_eyes is None else bool(four_eyes),
                          rollback=rollback_choice, gates=gates)
    _under_rule(client, model, user)
    return policy.apply(client, model, wanted, who, reason, may_relax=is_admin(user))


def adopt() -> Any:
    """Put a model promoted before (or elsewhere) under this server's rule: its history is
    checked, then an `adopted` entry keyed with this server's key commits to all of it."""
    from workbench.promotion import registry
    from workbench.promotion.records import now, verified_actor

    body, user = _body(), login()
    model, reason = _text(body, "model"), _text(body, "reason")
    who = verified_actor(user, None, reason, "an adoption")
    if not is_owner(user, model):
        raise ConfigError(f"only the owner of {model} (MANAGE permission) or an admin may put "
                          "it under governance")
    client = store_client()
    with registry.promotion_lock(client, model):
        tags = registry.model_tags(client, model)
        if registry.is_governed(tags):
            raise ConfigError(f"{model} is already governed by this server")
        state = registry.read_ledger(client, model, tags)
        check = registry.verify_ledger(state, None, check_champion=False)
        if not check.ok:
            raise ConfigError(f"the history of {model} is {check.why}; it cannot be adopted "
                              "as it is: see `workbench history MODEL --verify`")
        tail = registry.Tail(dict(tags), state.entries)
        entry = registry.append_history(client, model, {
            "action": "adopted", "model": model, "approver": who.name, "reason": reason,
            "at": now(), "entries_before": len(state.entries), **who.fields()},
            champion=registry.champion_version(client, model), tail=tail)
        _govern(client, model)
    return entry


def _govern(client: MlflowClient, model: str) -> None:
    from workbench.promotion import registry

    registry.set_model_tags(client, model, {registry.GOVERNED_TAG: "true"})


def verify() -> Any:
    """The model's history checked with this server's key; a model not governed yet (a
    history written by clients: migrated, or from before) is checked without it, and says
    so."""
    from workbench.promotion import registry

    body = _body()
    login()
    model = _text(body, "model")
    client = store_client()
    tags = registry.model_tags(client, model)
    governed = registry.is_governed(tags)
    check = registry.verify_ledger(registry.read_ledger(client, model, tags),
                                   registry.history_key() if governed else None)
    note = "" if governed or not check.ok else \
        f" (not governed by this server yet: workbench governance adopt {model})"
    return {"ok": check.ok, "why": check.why + note}


ROUTES: list[tuple[str, tuple[str, ...], Callable[[], Any]]] = [
    ("/info", ("GET",), info), ("/promote", ("POST",), promote),
    ("/preview", ("POST",), preview), ("/approve", ("POST",), approve),
    ("/decline", ("POST",), decline), ("/rollback", ("POST",), rollback),
    ("/unlock", ("POST",), unlock), ("/policy", ("POST",), set_policy),
    ("/adopt", ("POST",), adopt), ("/verify", ("POST",), verify)]

STATUS = {"PromotionRefused": 409, "PromotionConflict": 409, "PolicyRefused": 403}


def _json_errors(view: Callable[[], Any]) -> Callable[[], Any]:
    """A view whose workbench errors answer as JSON {workbench_error, message}, one line."""
    @functools.wraps(view)
    def wrapped() -> Any:
        from flask import jsonify

        try:
            return jsonify(view())
        except WorkbenchError as exc:
            kind = type(exc).__name__
            known = kind if kind in ("PromotionRefused", "PromotionConflict") else "ConfigError"
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
            response = jsonify({"workbench_error": known, "message": message})
            response.status_code = STATUS.get(kind, 400)
            return response
    return wrapped
