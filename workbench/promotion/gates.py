"""Promotion gates: pure checks on numbers the adapter gathered. No I/O here."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import ConfigError

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-/ :]+?)\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")
BEAT = re.compile(r"^\s*([A-Za-z0-9_.\-/:]+)(?:\s+by\s+([-+0-9.eE]+))?\s*$")


@dataclass(frozen=True)
class GateResult:
    gate: str  # e.g. "metric val_auc>=0.8", "beats champion on val_auc by 0.01"
    passed: bool
    detail: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Requirement:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_requirement(text: str) -> Requirement:
    match = REQUIREMENT.match(text)
    if match is None:
        raise ConfigError(f"requirement {text!r} is not METRIC OP VALUE (OP one of "
                          ">=, >, <=, <, ==), e.g. 'val_auc>=0.8'")
    try:
        return Requirement(match.group(1), match.group(2), float(match.group(3)))
    except ValueError:
        raise ConfigError(f"requirement {text!r}: {match.group(3)!r} is not a number") from None


def parse_beat(text: str) -> tuple[str, float]:
    """`"val_auc by 0.01"` -> ("val_auc", 0.01); the margin is optional."""
    match = BEAT.match(text)
    if match is None:
        raise ConfigError(f"beat_champion {text!r} is not 'METRIC [by MARGIN]', e.g. "
                          "'val_auc by 0.01'")
    try:
        return match.group(1), float(match.group(2) or 0.0)
    except ValueError:
        raise ConfigError(f"beat_champion {text!r}: the margin is not a number") from None


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
                  champion: float | None, champion_version: str | None) -> GateResult:
    """The candidate must beat the current champion on `metric` by `margin` (no champion: pass)."""
    name = f"beats champion on {metric} by {margin:g}"
    inputs = {"metric": metric, "margin": margin, "mode": mode, "candidate": candidate,
              "champion": champion, "champion_version": champion_version}
    if champion_version is None:
        return GateResult(name, True, "no champion yet", inputs)
    if candidate is None or champion is None:
        missing = "candidate" if candidate is None else f"champion v{champion_version}"
        return GateResult(name, False, f"the {missing} has no metric {metric}", inputs)
    better = candidate >= champion + margin if mode == "max" else candidate <= champion - margin
    return GateResult(name, better, f"{candidate:.6g} vs champion v{champion_version} "
                                    f"{champion:.6g}", inputs)
