"""A model's governance policy: four eyes, how rollbacks are decided, and the gates every
promotion passes. It lives in the registry (the model's `workbench.policy.*` tags), so the
gates that apply are the model's, not whatever `pipelines/` a caller has; each change is a
history entry. The owner may tighten a policy; relaxing it takes an admin.

`Policy`, `relaxes` and `changed` are pure; `apply` writes through `registry`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.promotion.records import Actor

ROLLBACK_CHOICES = ("four-eyes", "emergency")


@dataclass(frozen=True)
class Policy:
    four_eyes: bool = False
    rollback: str = "four-eyes"  # "emergency": a rollback needs no second person
    gates: dict[str, Any] | None = None  # GatePlan.to_policy(); None: no gates held

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Policy:
        from workbench.promotion import registry

        raw = tags.get(registry.GATES_POLICY_TAG)
        try:
            gates = json.loads(raw) if raw else None
        except ValueError:
            raise ConfigError(f"the model's {registry.GATES_POLICY_TAG} tag is not JSON; set "
                              "the gates again with `workbench policy MODEL --from-spec`") from None
        return cls(tags.get(registry.FOUR_EYES_TAG, "") == "true",
                   "emergency" if registry.rollback_is_emergency(tags) else "four-eyes", gates)

    def tags(self) -> dict[str, str]:
        from workbench.promotion import registry

        out = {registry.FOUR_EYES_TAG: "true" if self.four_eyes else "false",
               registry.ROLLBACK_POLICY_TAG: self.rollback}
        if self.gates is not None:
            out[registry.GATES_POLICY_TAG] = canonical(self.gates)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"four_eyes": self.four_eyes, "rollback": self.rollback, "gates": self.gates}

    def updated(self, *, four_eyes: bool | None = None, rollback: str | None = None,
                gates: dict[str, Any] | None = None) -> Policy:
        if rollback is not None and rollback not in ROLLBACK_CHOICES:
            raise ConfigError(f"--rollback {rollback!r}: choose one of "
                              f"{', '.join(ROLLBACK_CHOICES)}")
        return replace(self, four_eyes=self.four_eyes if four_eyes is None else four_eyes,
                       rollback=rollback or self.rollback,
                       gates=self.gates if gates is None else gates)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _gate_items(gates: Mapping[str, Any] | None) -> set[str]:
    """Each gate as one comparable string: metric requirements, beat gates, data gates."""
    if not gates:
        return set()
    return ({f"metric {m}" for m in gates.get("metrics", [])}
            | {f"beat {canonical(b)}" for b in gates.get("beats", [])}
            | {f"data {d}" for d in gates.get("data", [])})


_SETTINGS = ("target", "drift_columns", "drift_exclude", "drift_data")


def worth_holding(held: Policy, gates: Mapping[str, Any]) -> bool:
    """Do a spec's gates change what the registry holds? (A spec declaring no gate, for a
    model that holds none, changes nothing.)"""
    if held.gates is None:
        return bool(_gate_items(gates))
    return canonical(held.gates) != canonical(gates)


def relaxes(old: Policy, new: Policy) -> list[str]:
    """What `new` lets through that `old` did not (empty: `new` only tightens, or equals).
    Dropping or changing any gate counts as relaxing, since a weaker threshold is a change."""
    found = []
    if old.four_eyes and not new.four_eyes:
        found.append("four eyes off")
    if old.rollback == "four-eyes" and new.rollback == "emergency":
        found.append("rollback by one person (emergency)")
    dropped = sorted(_gate_items(old.gates) - _gate_items(new.gates))
    found += [f"gate dropped: {item}" for item in dropped]
    if old.gates and new.gates:
        found += [f"{name} changed" for name in _SETTINGS
                  if old.gates.get(name) != new.gates.get(name)]
    elif old.gates and new.gates is None:
        found.append("gates removed")
    return found


def changed(old: Policy, new: Policy) -> dict[str, Any]:
    """{field: new value} for what differs."""
    a, b = old.to_dict(), new.to_dict()
    return {k: b[k] for k in b if canonical(a[k]) != canonical(b[k])}


def current(client: MlflowClient, model: str) -> Policy:
    from workbench.promotion import registry

    return Policy.from_tags(registry.model_tags(client, model))


def apply(client: MlflowClient, model: str, new: Policy, who: Actor, reason: str, *,
          may_relax: bool) -> dict[str, Any]:
    """Write `new` as `model`'s policy, recorded as a history entry (under the promotion
    lock); a relaxation without `may_relax` is refused and writes nothing. Returns
    {"policy", "changed", "entry"} (entry None when nothing changed)."""
    from workbench.promotion import registry

    registry.ensure_registered(client, model)
    with registry.promotion_lock(client, model):
        tail = registry.open_history(client, model)
        old = Policy.from_tags(tail.tags)
        diff = changed(old, new)
        if not diff:
            return {"policy": old.to_dict(), "changed": {}, "entry": None}
        loosened = relaxes(old, new)
        if loosened and not may_relax:
            raise PolicyRefused(f"only an admin may relax the policy of {model} "
                                f"({'; '.join(loosened)}); its owner may only tighten it")
        registry.set_model_tags(client, model, {k: v for k, v in new.tags().items()
                                                if tail.tags.get(k) != v})
        from workbench.promotion.records import now

        entry = registry.append_history(client, model, {
            "action": "policy", "model": model, "changes": diff,
            "relaxed": loosened, "approver": who.name, "reason": reason, "at": now(),
            **who.fields()}, champion=registry.champion_version(client, model), tail=tail)
    return {"policy": new.to_dict(), "changed": diff, "entry": entry}


class PolicyRefused(ConfigError):
    """A change of policy this login may not make."""
