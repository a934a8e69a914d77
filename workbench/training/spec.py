"""What a train function declares about itself, and checking what a caller passes against it.

Pure: no I/O. A train function may declare a pydantic model for its params and the name of its
target column with `@trainable`; then mistyped or unknown params and data without the target are
refused on the client, before any worker starts.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from workbench.errors import ConfigError

SPEC_ATTR = "__workbench_spec__"


@dataclass(frozen=True)
class TrainSpec:
    params: type[BaseModel] | None = None
    target: str | None = None


def trainable(
    *, params: type[BaseModel] | None = None, target: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a train function's parameter schema and target column."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, SPEC_ATTR, TrainSpec(params=params, target=target))
        return fn

    return mark


def spec_of(fn: Callable[..., Any]) -> TrainSpec:
    found = getattr(fn, SPEC_ATTR, None)
    return found if isinstance(found, TrainSpec) else TrainSpec()


def resolve_function(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """A callable from a callable or a 'module:function' string."""
    if callable(ref):
        return ref
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(
            f"train function {ref!r} is neither callable nor a 'module:function' string; "
            "pass a function or e.g. 'mypackage.train:fit'"
        )
    module_name, attr = ref.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} for {ref!r} ({exc}); check the "
                          "name and that the package is installed on the workers") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"module {module_name!r} has no function {attr!r}; check the name in "
                          f"{ref!r}")
    return fn


def function_name(ref: str | Callable[..., Any]) -> str:
    if isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    return f"{module}:{getattr(ref, '__qualname__', repr(ref))}"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def validate_params(spec: TrainSpec, params: Mapping[str, Any] | BaseModel | None,
                    fn_name: str) -> dict[str, Any]:
    """Params as plain JSON-able values, with the schema's defaults filled in."""
    if isinstance(params, BaseModel):
        params = params.model_dump()
    given = dict(params or {})
    for name in given:
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"parameter name {name!r} is not a Python identifier; rename it")
    schema = spec.params
    if schema is None:
        return given
    known = list(schema.model_fields)
    unknown = [name for name in given if name not in known]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown parameter {name!r} for {fn_name}; {hint}"
                          f"declared parameters: {', '.join(known)}")
    try:
        model = schema.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise ConfigError(f"parameter {where!r}={first.get('input')!r} for {fn_name}: "
                          f"{first['msg'].lower()}; pass a value of the declared type") from None
    return model.model_dump(mode="json")
