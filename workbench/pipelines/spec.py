"""The pipeline spec (`pipelines/NAME.yaml`): a pydantic model, validated before anything runs.

Pure module: parsing and checking only. Errors name the YAML line they come from.
"""

from __future__ import annotations

import keyword
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from workbench.errors import ConfigError
from workbench.gate_syntax import parse_beat, parse_requirement

ParamType = Literal["int", "float", "str", "bool", "list", "dict"]
PYTHON_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (float, int), "str": (str,),
                                             "bool": (bool,), "list": (list,), "dict": (dict,)}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_identifier(name: str, what: str = "parameter") -> str:
    """A name that is injected into notebook code must be a plain Python identifier."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"{what} name {name!r} is not a Python identifier (or is a keyword); "
                         "it would be injected into code: rename it")
    return name


Identifier = Annotated[str, AfterValidator(check_identifier)]


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ParamType
    default: Any = None
    description: str = ""

    @model_validator(mode="after")
    def _default_has_the_type(self) -> Param:
        if self.default is not None and not is_of_type(self.default, self.type):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        return self


def is_of_type(value: Any, kind: str) -> bool:
    if kind in ("int", "float") and isinstance(value, bool):
        return False  # True is an int to Python, not to a pipeline
    return isinstance(value, PYTHON_TYPES[kind])


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    notebook: str | None = None  # path relative to the project root
    function: str | None = None  # "module:function"
    depends_on: list[str] = Field(default_factory=list)
    params: dict[Identifier, Any] = Field(default_factory=dict)  # fixed values

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"step name {value!r}: use letters, digits, '_', '-', '.'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.notebook is None) == (self.function is None):
            raise ValueError(f"step {self.name!r} needs exactly one of notebook: or function:")
        if self.function is not None and ":" not in self.function:
            raise ValueError(f"step {self.name!r}: function must be 'module:function'")
        return self


METRIC_NAME = re.compile(r"^[A-Za-z0-9_.\-/:]+$")


class BeatChampion(BaseModel):
    """`beat_champion: {metric: val_rmse, by: 5, data: data/holdout.parquet, target: cnt}`: the
    long form of "val_rmse by 5". With `data`, both models are re-scored on that dataset."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    by: float = 0.0  # the margin the challenger must win by
    data: str | None = None  # evaluation data (relative to the project root) both are scored on
    target: str | None = None  # its target column; default: the spec's target:
    mode: Literal["max", "min"] | None = None  # default: the metric's own (rmse: min, auc: max)

    @field_validator("metric")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not METRIC_NAME.match(value):
            raise ValueError(f"beat_champion metric {value!r} is not a metric name, e.g. "
                             "'val_rmse' (the margin goes in by:)")
        return value


class Gate(BaseModel):
    """One promotion gate; `workbench promote` applies the gates of the pipeline whose `model:`
    is the model being promoted, besides those given as flags."""

    model_config = ConfigDict(extra="forbid")

    metric: str | None = None  # e.g. "val_auc >= 0.8"
    beat_champion: str | BeatChampion | None = None  # e.g. "val_auc by 0.01", or the long form
    mode: Literal["max", "min"] | None = None  # for beat_champion: is a higher value better?
    validation: bool = False  # wb.validate of the training data against recent production data
    drift: bool = False  # no dataset drift of the training data against production data

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None:
            _as_value_error(parse_requirement, value)
        return value

    @field_validator("beat_champion", mode="before")
    @classmethod
    def _beat(cls, value: Any) -> Any:
        if isinstance(value, str):
            _as_value_error(parse_beat, value)
        elif isinstance(value, dict):  # the long form: its own errors, not the union's
            try:
                return BeatChampion.model_validate(value)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = "unknown key; beat_champion takes metric, by, data, target, mode"
                raise ValueError(f"{where}: {message}" if where else message) from None
        elif value is not None and not isinstance(value, BeatChampion):
            raise ValueError("beat_champion is 'METRIC [by MARGIN]' or a mapping "
                             "{metric:, by:, data:, target:}")
        return value

    @model_validator(mode="after")
    def _says_something(self) -> Gate:
        if not (self.metric or self.beat_champion or self.validation or self.drift):
            raise ValueError("a gate needs one of metric:, beat_champion:, validation: true, "
                             "drift: true")
        self.beat()  # a mode that contradicts the metric is refused here, with the YAML line
        return self

    def beat(self) -> BeatChampion | None:
        """The beat-champion gate in its long form, its mode resolved: as written, else the
        metric's own direction (rmse: min, auc: max), else max."""
        from workbench.metric_names import direction

        if self.beat_champion is None:
            return None
        if isinstance(self.beat_champion, str):
            metric, margin = parse_beat(self.beat_champion)
            found = BeatChampion(metric=metric, by=margin)
        else:
            found = self.beat_champion.model_copy()
        written = found.mode or self.mode
        natural = direction(found.metric)
        if written and natural and written != natural:
            raise ValueError(f"mode: {written} for {found.metric}, where "
                             f"{'higher' if natural == 'max' else 'lower'} is better; drop "
                             "mode: or fix it")
        found.mode = written or natural or "max"  # type: ignore[assignment]
        return found


def _as_value_error(parse: Any, text: str) -> None:
    try:
        parse(text)
    except ConfigError as exc:  # pydantic reports ValueErrors with the YAML line
        raise ValueError(str(exc)) from None


class DriftPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str | None = None  # where production data lands (Parquet/CSV directory)
    reference: str | None = None  # training data, when the champion's run does not name a path
    threshold: float = Field(default=0.5, gt=0, le=1)  # drifted share that triggers retraining
    # the columns whose drift counts: default the champion model's input columns (its MLflow
    # signature); ids, dates and the target never count
    columns: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    # a column's type for the drift tests ("numerical", "categorical") or "skip"; a typed column
    # is tested even when it looks like an id or a date
    column_types: dict[str, Literal["numerical", "categorical", "skip"]] = Field(
        default_factory=dict)
    cooldown_hours: float = Field(default=24.0, ge=0)
    auto_promote: bool = False


class PerformancePolicy(BaseModel):
    """The champion's metric on labelled production data: below `min` (above `max` for an
    error), or worse than its reference score by more than `max_drop`, fires on its own."""

    model_config = ConfigDict(extra="forbid")

    metric: str  # a score beat_champion knows: auc, accuracy, r2, rmse, mse, mae
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        from workbench.metric_names import SUPPORTED, score_name

        if score_name(value) is None:
            raise ValueError(f"metric {value!r} is none of {SUPPORTED}")
        return value

    @model_validator(mode="after")
    def _some_bound(self) -> PerformancePolicy:
        if self.min is None and self.max is None and self.max_drop is None:
            raise ValueError("give min:, max: or max_drop: (what counts as degraded)")
        return self


class MonitorPolicy(BaseModel):
    """What `workbench monitor` watches besides the drift of the raw columns."""

    model_config = ConfigDict(extra="forbid")

    # "module:function" turning raw rows into the model's inputs (a DataFrame in, one out):
    # with it the model inputs are compared too and the champion can score production data
    features: str | None = None
    predictions: bool = True  # score the champion on production data: prediction drift
    performance: PerformancePolicy | None = None
    key: str | None = None  # the column that joins labels arriving later to production rows
    # a retraining starts from the champion's values of the spec's params ("champion"), or
    # from the spec's defaults ("defaults")
    retrain_from: Literal["champion", "defaults"] = "champion"

    @field_validator("features")
    @classmethod
    def _function(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w.]+:[A-Za-z_]\w*$", value):
            raise ValueError(f"features {value!r} is not 'module:function'")
        return value


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    params: dict[Identifier, Param] = Field(default_factory=dict)
    # name -> data path (relative to the project root): recorded with its digest on every
    # run and passed to the steps that declare a parameter of that name; `-p name=PATH` overrides
    inputs: dict[Identifier, str] = Field(default_factory=dict)
    steps: list[Step]
    model: str | None = None  # the registered model the pipeline produces
    target: str | None = None  # the column the model predicts: never a drift feature
    gates: list[Gate] = Field(default_factory=list)
    schedule: str | None = None  # cron, e.g. "0 3 * * *" (UTC)
    schedule_since: str | None = None  # ISO time the schedule was set: no slot before it runs
    drift: DriftPolicy | None = None
    monitor: MonitorPolicy | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"pipeline name {value!r}: use letters, digits, '_', '-', '.'")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"schedule {value!r} is not a cron expression, e.g. '0 3 * * *'")
        return value

    @model_validator(mode="after")
    def _dag(self) -> PipelineSpec:
        if not self.steps:
            raise ValueError("a pipeline needs at least one step")
        both = sorted(set(self.inputs) & set(self.params))
        if both:
            raise ValueError(f"{', '.join(both)} is both an input and a parameter; an input is "
                             "passed to steps as a parameter already: keep one")
        names = [s.name for s in self.steps]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"step names repeat: {', '.join(repeated)}")
        for step in self.steps:
            missing = [d for d in step.depends_on if d not in names]
            if missing:
                raise ValueError(f"step {step.name!r} depends on missing step(s) "
                                 f"{', '.join(missing)}")
        try:
            tuple(TopologicalSorter({s.name: s.depends_on for s in self.steps}).static_order())
        except CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise ValueError(f"steps form a cycle: {cycle}") from None
        return self

    def order(self) -> list[list[str]]:
        """Steps in waves: every step of a wave can run once the waves before it are done."""
        sorter = TopologicalSorter({s.name: s.depends_on for s in self.steps})
        sorter.prepare()
        waves = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            waves.append(ready)
            sorter.done(*ready)
        return waves

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with `given`; unknown names and wrong types refused. Inputs are
        in the result too (their paths as written; `given` may replace them)."""
        unknown = sorted(set(given) - set(self.params) - set(self.inputs))
        if unknown:
            known = ", ".join([*self.params, *self.inputs]) or "none"
            raise ConfigError(f"pipeline {self.name} has no parameter(s) {', '.join(unknown)}; "
                              f"its parameters: {known}")
        values = {name: p.default for name, p in self.params.items()}
        values.update(self.inputs)
        for name, value in given.items():
            kind = self.params[name].type if name in self.params else "str"
            if not is_of_type(value, kind):
                raise ConfigError(f"parameter {name} of pipeline {self.name} must be {kind}, "
                                  f"got {value!r}")
            values[name] = float(value) if kind == "float" else value
        return values


def load_spec(path: Path) -> PipelineSpec:
    """Read and validate a spec file; errors say `file:line: what is wrong`."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a pipeline spec is a mapping (name:, steps:, ...)")
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        line = _line_of(text, tuple(error["loc"]))
        where = ".".join(str(p) for p in error["loc"] if p != "[key]") or "spec"
        message = str(error["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}:{line}: {where}: {message}{more}") from None


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at `loc` (or of its nearest existing parent)."""
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, _ in node.value if k.value == str(part)), None)
            if found is None:
                break
            line, node = key.start_mark.line + 1, found  # type: ignore[union-attr]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def dump_spec(spec: PipelineSpec) -> str:
    import yaml

    data = spec.model_dump(mode="json", exclude_defaults=True)
    data = {"name": data.pop("name"), **data}  # name first: what a reader looks for
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
