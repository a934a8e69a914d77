"""Promotion gates: pure checks on numbers the adapter gathered. No I/O here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.gate_syntax import OPS, Requirement


@dataclass(frozen=True)
class GateResult:
    gate: str  # e.g. "metric val_auc>=0.8", "beats champion on val_auc by 0.01"
    passed: bool
    detail: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_gate(requirement: Requirement, metrics: Mapping[str, float]) -> GateResult:
    value = metrics.get(requirement.metric)
    name = f"metric {requirement}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateResult(name, False, f"the run has no metric {requirement.metric}",
                          {"metric": requirement.metric})
    passed = OPS[requirement.op](float(value), requirement.value)
    return GateResult(name, passed, f"{requirement.metric} = {value:.6g}",
                      {"metric": requirement.metric, "value": float(value),
                       "op": requirement.op, "threshold": requirement.value})


def champion_gate(metric: str, margin: float, mode: str, candidate: float | None,
                  champion: float | None, champion_version: str | None, *,
                  basis: str = "logged metrics", data: Mapping[str, Any] | None = None,
                  note: str = "") -> GateResult:
    """The candidate must beat the current champion on `metric` by `margin` (no champion: pass).

    `basis`: "logged metrics" (each run's own logged value) or "re-scored SCORE" (both models
    scored on `data`: its source, digest, rows); `note` says why logged metrics were used."""
    name = f"beats champion on {metric} by {margin:g}"
    inputs = {"metric": metric, "margin": margin, "mode": mode, "candidate": candidate,
              "champion": champion, "champion_version": champion_version, "basis": basis,
              "data": dict(data) if data else None, "note": note}
    if champion_version is None:
        return GateResult(name, True, "no champion yet", inputs)
    if candidate is None or champion is None:
        missing = "candidate" if candidate is None else f"champion v{champion_version}"
        return GateResult(name, False, f"the {missing} has no metric {metric}"
                                       + (f" ({note})" if note else ""), inputs)
    better = candidate >= champion + margin if mode == "max" else candidate <= champion - margin
    compared = f"{candidate:.6g} vs champion v{champion_version} {champion:.6g}"
    if data:
        where = str(data.get("source", "")).rstrip("/").rsplit("/", 1)[-1]
        detail = (f"{basis.removeprefix('re-scored ')} {compared}, both scored on {where} "
                  f"({data.get('rows', 0):,} rows, digest {data.get('digest')})")
    else:
        detail = f"{compared} as logged" + (f" ({note})" if note else "")
    return GateResult(name, better, detail, inputs)
