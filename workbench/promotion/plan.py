"""Which gates a promotion applies (flags and the pipeline spec) and their evaluation: the
adapter that gathers the numbers `gates.py` decides on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.gate_syntax import Requirement, parse_requirement
from workbench.metric_names import DIRECTIONS, SUPPORTED, direction, score_name
from workbench.promotion import registry
from workbench.promotion.gates import GateResult, champion_gate, metric_gate

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.pipelines.spec import PipelineSpec


@dataclass(frozen=True)
class Beat:
    """A beat-champion gate: the metric, the margin, which way is better, where it was asked
    for, and (from a spec) the evaluation data both models are scored on and its target."""

    metric: str
    margin: float
    mode: str
    source: str
    data: Path | None = None
    target: str | None = None


@dataclass
class GatePlan:
    """Which gates to evaluate, and where each was asked for (a flag or a spec file)."""

    metrics: list[tuple[Requirement, str]] = field(default_factory=list)
    beats: list[Beat] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)  # "validation"/"drift" -> source
    target: str | None = None  # the spec's target: scored on, never a drift feature
    drift_columns: list[str] | None = None  # the spec's drift.columns / drift.exclude
    drift_exclude: list[str] = field(default_factory=list)
    drift_data: Path | None = None  # the spec's drift.data: recent production data

    @classmethod
    def from_flags(cls, require: Sequence[str], beat: str | None, margin: float, mode: str,
                   *, data: bool) -> GatePlan:
        # a metric workbench knows (rmse, auc, ...) is judged its own way round
        beats = [Beat(beat, margin, direction(beat) or mode, "flag")] if beat else []
        return cls([(parse_requirement(r), "flag") for r in require], beats,
                   {"validation": "flag", "drift": "flag"} if data else {})

    @classmethod
    def from_spec(cls, path: Path, spec: PipelineSpec, root: Path) -> GatePlan:
        source = str(path.relative_to(root))
        plan = cls(target=spec.target)
        if spec.drift is not None:
            plan.drift_columns, plan.drift_exclude = spec.drift.columns, spec.drift.exclude
            plan.drift_data = (root / spec.drift.data).resolve() if spec.drift.data else None
        for gate in spec.gates:
            if gate.metric:
                plan.metrics.append((parse_requirement(gate.metric), source))
            beat = gate.beat()
            if beat is not None:
                plan.beats.append(Beat(beat.metric, beat.by, str(beat.mode), source,
                                       (root / beat.data).resolve() if beat.data else None,
                                       beat.target))
            for kind in ("validation", "drift"):
                if getattr(gate, kind):
                    plan.data[kind] = source
        return plan

    def merge(self, other: GatePlan) -> GatePlan:
        return GatePlan(self.metrics + other.metrics, self.beats + other.beats,
                        {**other.data, **self.data}, self.target or other.target,
                        self.drift_columns if self.drift_columns is not None
                        else other.drift_columns, self.drift_exclude + other.drift_exclude,
                        self.drift_data or other.drift_data)

    def to_policy(self) -> dict[str, Any]:
        """The plan as the registry keeps it (`workbench.policy.gates`): plain JSON, paths
        absolute, each gate once, where it came from."""
        sources = sorted({src for _, src in self.metrics} | {b.source for b in self.beats}
                         | set(self.data.values()))
        return {"metrics": sorted({str(r) for r, _ in self.metrics}),
                "beats": sorted(({"metric": b.metric, "margin": b.margin, "mode": b.mode,
                                  "data": str(b.data) if b.data else None, "target": b.target}
                                 for b in self.beats), key=lambda b: json.dumps(b, sort_keys=True)),
                "data": [kind for kind in ("validation", "drift") if kind in self.data],
                "target": self.target,
                "drift_columns": self.drift_columns, "drift_exclude": sorted(self.drift_exclude),
                "drift_data": str(self.drift_data) if self.drift_data else None,
                "source": ", ".join(sources)}

    @classmethod
    def from_policy(cls, policy: dict[str, Any]) -> GatePlan:
        """The gates the registry holds for a model (see `to_policy`)."""
        source = f"registry policy ({policy.get('source') or 'workbench policy'})"
        return cls([(parse_requirement(r), source) for r in policy.get("metrics", [])],
                   [Beat(b["metric"], float(b.get("margin", 0.0)), str(b.get("mode", "max")),
                         source, Path(b["data"]) if b.get("data") else None, b.get("target"))
                    for b in policy.get("beats", [])],
                   {kind: source for kind in policy.get("data", [])}, policy.get("target"),
                   policy.get("drift_columns"), list(policy.get("drift_exclude", [])),
                   Path(policy["drift_data"]) if policy.get("drift_data") else None)


def evaluate(client: MlflowClient, model: str, run: Any, plan: GatePlan, expected: str | None,
             production: Any, training: Any) -> list[GateResult]:
    def sourced(gate: GateResult, source: str) -> GateResult:
        return GateResult(gate.gate, gate.passed, gate.detail, {**gate.inputs, "source": source})

    gates = [sourced(metric_gate(r, run.data.metrics), src) for r, src in plan.metrics]
    for beat in plan.beats:
        gates.append(sourced(_champion_gate(client, model, run, beat, expected, plan.target),
                             beat.source))
    if plan.data:
        if production is None:
            asked = ", ".join(f"{k} ({v})" for k, v in plan.data.items())
            raise ConfigError(f"the gates {asked} need recent production data: pass "
                              "--production-data PATH or set drift.data in the pipeline spec")
        gates += [sourced(g, plan.data[kind])
                  for kind, g in _data_gates(client, run, training, production, plan)]
    return gates


def _champion_gate(client: MlflowClient, model: str, run: Any, beat: Beat,
                   champion: str | None, target: str | None) -> GateResult:
    """Both models scored on the same evaluation data when there is some (see `evaluation`);
    else each run's logged metric, recorded as such."""
    from workbench.promotion import evaluation

    logged = run.data.metrics.get(beat.metric)
    if champion is None:
        return champion_gate(beat.metric, beat.margin, beat.mode, logged, None, None)
    score = score_name(beat.metric)
    if beat.data is not None and score is None:
        raise ConfigError(f"beat_champion {beat.metric} ({beat.source}) cannot be scored on "
                          f"data: workbench computes {SUPPORTED}; name the metric after one of "
                          "them (e.g. val_rmse), or drop data:")
    data = evaluation.find(client, run, beat.data, beat.target or target, beat.source)
    if data is not None and score is not None:
        challenger = evaluation.score(registry.model_source(client, run)[0], data, score)
        best = evaluation.score(registry.version_model_uri(model, champion), data, score)
        return champion_gate(beat.metric, beat.margin, DIRECTIONS[score], challenger, best,
                             champion, basis=f"re-scored {score}", data=data.describe())
    note = evaluation.NO_DATA if data is None else \
        f"{beat.metric} is not a score workbench computes ({SUPPORTED})"
    champion_run = registry.version_run(client, model, champion)
    kept = client.get_run(champion_run).data.metrics.get(beat.metric) if champion_run else None
    return champion_gate(beat.metric, beat.margin, beat.mode, logged, kept, champion,
                         note=note)


def _data_gates(client: MlflowClient, run: Any, training: Any, production: Any,
                plan: GatePlan) -> list[tuple[str, GateResult]]:
    from workbench.monitoring.features import choose_features, feature_drift
    from workbench.monitoring.validation import validate
    from workbench.tracking.datasets import checked_training_data, recorded_target

    training = training if training is not None else checked_training_data(run)
    if training is None:
        raise ConfigError(f"run {run.info.run_id} names no training data on disk; pass "
                          "training_data= (--training-data) for the data gates")
    source = {"training": str(training), "production": str(production)
              if not hasattr(production, "shape") else f"DataFrame {production.shape}"}
    gates = []
    if "validation" in plan.data:
        checked = validate(training, production)
        failed = [f"{c.name}[{c.column}]" if c.column else c.name for c in checked.failed]
        gates.append(("validation", GateResult(
            "data validation", checked.passed,
            "all checks pass" if checked.passed else f"failed: {', '.join(failed)}",
            {**source, "checks": len(checked.checks), "failed": failed})))
    if "drift" in plan.data:  # on the candidate model's features
        uri = registry.model_source(client, run)[0]
        choice = choose_features(training, production, model_inputs=registry.model_inputs(uri),
                                 columns=plan.drift_columns, exclude=plan.drift_exclude,
                                 target=plan.target or recorded_target(run),
                                 model=f"the model of run {run.info.run_id}")
        result = feature_drift(training, production, choice)
        gates.append(("drift", GateResult(
            "no data drift", not result.drifted, result.summary(),
            {**source, "share": result.share, "drift_share": result.drift_share,
             "drifted_columns": result.drifted_columns, "engine": result.engine,
             "columns": choice.columns, "columns_from": choice.basis,
             "left_out": choice.left_out})))
    return gates
