"""The gate grammar shared by pipeline specs and promotion flags: "val_auc >= 0.8",
"val_auc by 0.01". Pure; a leaf module so `pipelines` and `promotion` both read it one way."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import ConfigError

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-/ :]+?)\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")
BEAT = re.compile(r"^\s*([A-Za-z0-9_.\-/:]+)(?:\s+by\s+([-+0-9.eE]+))?\s*$")


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
