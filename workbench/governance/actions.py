"""`wb.policy` and `wb.adopt`: a model's governance policy read or changed, and a model put
under a governing tracking server's rule. Against a governing server both run there, as the
login it verified (the owner tightens, an admin relaxes); on the embedded store the policy is
written to the registry directly, recorded as unverified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import ConfigError


def policy(model: str, *, reason: str | None = None, four_eyes: bool | None = None,
           rollback: str | None = None, from_spec: bool = False,
           root: str | Path | None = None, approver: str | None = None) -> dict[str, Any]:
    """The policy of `model` ({"four_eyes", "rollback", "gates"}); with a change (`four_eyes`,
    `rollback` "emergency"|"four-eyes", `from_spec`: the gates of the project's pipeline for
    `model`) it is made first, as a history entry, and {"policy", "changed", "entry"} is
    returned."""
    from workbench.governance import policy as rules
    from workbench.governance.remote import governing_server
    from workbench.promotion.promote import _spec_gates

    gates = None
    if from_spec:
        gates = _spec_gates(model, root)
        if gates is None:
            raise ConfigError(f"no pipeline in {root or 'the project'}/pipelines declares "
                              f"model: {model}; nothing to take the gates from")
    if four_eyes is None and rollback is None and gates is None:
        return _read(model)
    if not reason or not reason.strip():
        raise ConfigError("a policy change needs a reason (--reason)")
    server = governing_server()
    if server is not None:
        return dict(server.policy(model, reason=reason, four_eyes=four_eyes,
                                  rollback=rollback, gates=gates))
    from workbench.promotion.records import local_actor
    from workbench.tracking.store import tracking_client

    client = tracking_client()
    held = rules.Policy.from_tags(_tags(client, model))
    wanted = held.updated(four_eyes=four_eyes, rollback=rollback, gates=gates)
    return rules.apply(client, model, wanted, local_actor(approver, reason, "a policy change"),
                       reason, may_relax=True)


def _read(model: str) -> dict[str, Any]:
    from workbench.governance import policy as rules
    from workbench.promotion import registry
    from workbench.tracking.store import read_client

    tags = registry.model_tags(read_client(), model)
    return {**rules.Policy.from_tags(tags).to_dict(), "governed": registry.is_governed(tags)}


def _tags(client: Any, model: str) -> dict[str, str]:
    from workbench.promotion import registry

    try:
        return registry.model_tags(client, model)
    except ConfigError:
        return {}


def adopt(model: str, *, reason: str) -> dict[str, Any]:
    """Put `model` (promoted before governance, or migrated) under the governing tracking
    server's rule: its history is checked, then an `adopted` entry, keyed by the server,
    commits to it; from then on only the server writes its alias and workbench tags."""
    from workbench.governance.remote import governing_server

    server = governing_server()
    if server is None:
        raise ConfigError("adopt puts a model under a governing tracking server's rule: set "
                          "MLFLOW_TRACKING_URI to one (`workbench services up` starts one)")
    return dict(server.adopt(model, reason=reason))
