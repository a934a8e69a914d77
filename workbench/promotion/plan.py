"""Which gates a promotion applies (flags and the pipeline spec) and their evaluation: the
adapter that gathers the numbers `gates.py` decides on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.gate_syntax import Requirement, parse_beat, parse_requirement
from workbench.promotion import registry
from workbench.promotion.gates import GateResult, champion_gate, metric_gate

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.pipelines.spec import PipelineSpec


@dataclass
class GatePlan:
    """Which gates to evaluate, and where each was asked for (a flag or a spec file)."""

    metrics: list[tuple[Requirement, str]] = field(default_factory=list)
    beats: list[tuple[str, float, str, str]] = field(default_factory=list)  # metric, margin, mode
    data: dict[str, str] = field(default_factory=dict)  # "validation"/"drift" -> source

    @classmethod
    def from_flags(cls, require: Sequence[str], beat: str | None, margin: float, mode: str,
                   *, data: bool) -> GatePlan:
        return cls([(parse_requirement(r), "flag") for r in require],
                   [(beat, margin, mode, "flag")] if beat else [],
                   {"validation": "flag", "drift": "flag"} if data else {})

    @classmethod
    def from_spec(cls, path: Path, spec: PipelineSpec, root: Path) -> GatePlan:
        source = str(path.relative_to(root))
        plan = cls()
        for gate in spec.gates:
            if gate.metric:
                plan.metrics.append((parse_requirement(gate.metric), source))
            if gate.beat_champion:
                metric, margin = parse_beat(gate.beat_champion)
                plan.beats.append((metric, margin, gate.mode, source))
            for kind in ("validation", "drift"):
                if getattr(gate, kind):
                    plan.data[kind] = source
        return plan

    def merge(self, other: GatePlan) -> GatePlan:
        return GatePlan(self.metrics + other.metrics, self.beats + other.beats,
                        {**other.data, **self.data})


def evaluate(client: MlflowClient, model: str, run: Any, plan: GatePlan, expected: str | None,
             production: Any, training: Any) -> list[GateResult]:
    def sourced(gate: GateResult, source: str) -> GateResult:
        return GateResult(gate.gate, gate.passed, gate.detail, {**gate.inputs, "source": source})

    gates = [sourced(metric_gate(r, run.data.metrics), src) for r, src in plan.metrics]
    for metric, margin, mode, src in plan.beats:
        gates.append(sourced(_champion_gate(client, model, run, metric, margin, mode, expected),
                             src))
    if plan.data:
        if production is None:
            asked = ", ".join(f"{k} ({v})" for k, v in plan.data.items())
            raise ConfigError(f"the gates {asked} need recent production data: pass "
                              "--production-data PATH or set drift.data in the pipeline spec")
        gates += [sourced(g, plan.data[kind])
                  for kind, g in _data_gates(run, training, production, set(plan.data))]
    return gates


def _champion_gate(client: MlflowClient, model: str, run: Any, metric: str, margin: float,
                   mode: str, champion: str | None) -> GateResult:
    champion_value = None
    if champion is not None:
        champion_run = registry.version_run(client, model, champion)
        if champion_run:
            champion_value = client.get_run(champion_run).data.metrics.get(metric)
    return champion_gate(metric, margin, mode, run.data.metrics.get(metric), champion_value,
                         champion)


def _data_gates(run: Any, training: Any, production: Any,
                kinds: set[str]) -> list[tuple[str, GateResult]]:
    from workbench.monitoring.api import drift
    from workbench.monitoring.validation import validate
    from workbench.tracking.datasets import checked_training_data

    training = training if training is not None else checked_training_data(run)
    if training is None:
        raise ConfigError(f"run {run.info.run_id} names no training data on disk; pass "
                          "training_data= (--training-data) for the data gates")
    source = {"training": str(training), "production": str(production)
              if not hasattr(production, "shape") else f"DataFrame {production.shape}"}
    gates = []
    if "validation" in kinds:
        checked = validate(training, production)
        failed = [f"{c.name}[{c.column}]" if c.column else c.name for c in checked.failed]
        gates.append(("validation", GateResult(
            "data validation", checked.passed,
            "all checks pass" if checked.passed else f"failed: {', '.join(failed)}",
            {**source, "checks": len(checked.checks), "failed": failed})))
    if "drift" in kinds:
        result = drift(training, production)
        gates.append(("drift", GateResult(
            "no data drift", not result.drifted, result.summary(),
            {**source, "share": result.share, "drift_share": result.drift_share,
             "drifted_columns": result.drifted_columns, "engine": result.engine})))
    return gates
