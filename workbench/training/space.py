"""Search spaces for sweeps: grids and random sampling. Pure and seeded."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError


class Distribution:
    def sample(self, rng: random.Random) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LogUniform(Distribution):
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        if self.low <= 0:
            raise ConfigError(f"loguniform needs low > 0, got {self.low}; use uniform instead")
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))


@dataclass(frozen=True)
class RandInt(Distribution):
    low: int
    high: int  # inclusive

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class Choice(Distribution):
    options: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.options)


def uniform(low: float, high: float) -> Uniform:
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    return LogUniform(low, high)


def randint(low: int, high: int) -> RandInt:
    return RandInt(low, high)


def choice(options: Sequence[Any]) -> Choice:
    return Choice(tuple(options))


def trials(space: Mapping[str, Any], n_trials: int | None, seed: int) -> list[dict[str, Any]]:
    """The parameter sets to try.

    A space of lists (or scalars) with no `n_trials` is a full grid. With `n_trials`, or when
    any dimension is a distribution, `n_trials` points are drawn at random (lists are choices).
    """
    if not space:
        raise ConfigError("sweep space is empty; pass e.g. space={'lr': [1e-3, 1e-2]}")
    dims = {name: _as_dim(name, value) for name, value in space.items()}
    random_search = n_trials is not None or any(isinstance(d, Distribution) for d in dims.values())
    if not random_search:
        names = list(dims)
        grids = [list(dims[n]) for n in names]  # type: ignore[arg-type]  # all lists here
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]
    if n_trials is None:
        raise ConfigError("a space with distributions needs n_trials; pass n_trials=N")
    if n_trials < 1:
        raise ConfigError(f"n_trials must be at least 1, got {n_trials}")
    rng = random.Random(seed)
    out = []
    for _ in range(n_trials):
        point = {}
        for name, dim in dims.items():
            point[name] = dim.sample(rng) if isinstance(dim, Distribution) else rng.choice(dim)
        out.append(point)
    return out


def _as_dim(name: str, value: Any) -> Distribution | list[Any]:
    if isinstance(value, Distribution):
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"sweep dimension {name!r} has no values; give at least one")
        return list(value)
    return [value]


SPACE_SYNTAX = "name=v1,v2 (a grid) or name=uniform|loguniform|randint:LOW:HIGH"


def parse_space(pairs: Sequence[str]) -> dict[str, Any]:
    """A search space from `name=a,b,c` (grid values, JSON scalars else text) or
    `name=uniform:LOW:HIGH`, `loguniform:LOW:HIGH`, `randint:LOW:HIGH`; blank lines skipped.
    Nothing is evaluated: values are parsed as JSON scalars."""
    import json

    makers: dict[str, Any] = {"uniform": uniform, "loguniform": loguniform, "randint": randint}
    out: dict[str, Any] = {}
    for raw_pair in pairs:
        pair = raw_pair.strip()
        if not pair:
            continue
        name, sep, raw = (part.strip() for part in pair.partition("="))
        if not sep or not name or not raw:
            raise ConfigError(f"{pair!r} is not {SPACE_SYNTAX}")
        if not name.isidentifier():
            raise ConfigError(f"{name!r} in {pair!r} is not a parameter name; use {SPACE_SYNTAX}")
        kind, _, bounds = raw.partition(":")
        if kind in makers:
            low, _, high = bounds.partition(":")
            cast: Any = int if kind == "randint" else float
            try:
                out[name] = makers[kind](cast(low), cast(high))
            except ValueError:
                raise ConfigError(f"{pair!r}: bounds must be numbers, e.g. {name}={kind}:1:10"
                                  ) from None
        else:
            values = []
            for value in raw.split(","):
                try:
                    values.append(json.loads(value))
                except json.JSONDecodeError:
                    values.append(value.strip())
            out[name] = values
    return out
