"""Beat the champion on the same data: find the evaluation data, score both models on it.

The data is the gate's declared dataset (`beat_champion: {data: PATH}` in the pipeline spec),
else the evaluation input the challenger's run logged (`wb.log_evaluation_data`), checked
against the digest recorded with it. Both models are loaded by their MLflow model URIs (pyfunc,
through `registry`) and scored by `scoring`. The gate records the data's source, digest and
row count beside both scores.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.promotion import registry, scoring

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

NO_DATA = ("no evaluation data to score both on: log it in training with "
           "wb.log_evaluation_data, or declare beat_champion: {data: PATH} in the spec")


@dataclass(frozen=True)
class EvaluationData:
    frame: pd.DataFrame  # the rows scored (those with a target value)
    source: str  # a path, or the runs:/ URI of the artifact holding it
    digest: str
    rows: int
    target: str
    origin: str  # where the gate found it

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "digest": self.digest, "rows": self.rows,
                "target": self.target, "origin": self.origin}


def find(client: MlflowClient, run: Any, declared: Path | None, target: str | None,
         declared_in: str = "the spec") -> EvaluationData | None:
    """The declared dataset, else the challenger's evaluation input, else None."""
    from workbench.tracking.datasets import evaluation_input, recorded_target

    if declared is not None:
        if not declared.exists():
            raise ConfigError(f"the beat_champion data {declared} ({declared_in}) does not "
                              "exist; fix data: in the gate")
        return _loaded(declared, None, target or recorded_target(run), f"declared in "
                       f"{declared_in}", run)
    logged = evaluation_input(run)
    if logged is None:
        return None
    recorded = logged["digest"] if logged["workbench"] else None
    target = target or logged["target"] or recorded_target(run)
    uri = str(logged["uri"])
    origin = f"evaluation input of run {run.info.run_id}"
    if uri.startswith("runs:/"):
        source_run, _, path = uri.removeprefix("runs:/").partition("/")
        with tempfile.TemporaryDirectory() as scratch, registry.quiet_downloads():
            try:
                local = client.download_artifacts(source_run, path, scratch)
            except Exception:
                raise ConfigError(f"the evaluation data {uri} of run {run.info.run_id} is gone "
                                  "from its artifacts; declare beat_champion: {data: PATH} in "
                                  "the spec instead") from None
            return _loaded(Path(local), recorded, target, origin, run, uri)
    local_path = Path(uri)
    if not local_path.is_absolute() or not local_path.exists():
        raise ConfigError(f"the evaluation data {uri} that run {run.info.run_id} recorded is "
                          "gone; restore it, or declare beat_champion: {data: PATH} in the spec")
    return _loaded(local_path, recorded, target, origin, run)


def _loaded(path: Path, recorded: str | None, target: str | None, origin: str, run: Any,
            shown: str | None = None) -> EvaluationData:
    from workbench.data import inspect, load, require_columns

    source = inspect(path)
    if recorded and source.digest != recorded:
        raise ConfigError(f"the evaluation data at {shown or path} changed since run "
                          f"{run.info.run_id} (digest {source.digest} != {recorded}); restore "
                          "it, or declare beat_champion: {data: PATH} in the spec")
    if target is None:
        raise ConfigError(f"no target column known to score on {shown or path}: set target: in "
                          "the pipeline spec (or in the beat_champion gate)")
    require_columns(source, target)
    frame = load(source)
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise ConfigError(f"the evaluation data {shown or path} has no row with a {target} "
                          "value; nothing to score on")
    return EvaluationData(frame, shown or str(path), source.digest, len(frame), target, origin)


IN_CHILD = "WORKBENCH_SCORE_IN_CHILD"  # set by a governing server: models load elsewhere


def score(uri: str, data: EvaluationData, name: str) -> float:
    """`name` (a `scoring` score) of the model at `uri` on `data`. In a governing tracking
    server the model is loaded (unpickled) in a child process holding none of the server's
    secrets (`score_child`), never in the server itself."""
    if os.environ.get(IN_CHILD):
        from workbench.promotion.score_child import score_elsewhere

        return score_elsewhere(uri, data.frame, data.target, name)
    return score_frame(registry.load_model(uri), data.frame, data.target, name, uri)


def score_frame(model: Any, frame: pd.DataFrame, target: str, name: str, uri: str) -> float:
    features = model_input(model.metadata, frame.drop(columns=[target]), uri)
    try:
        predictions = model.predict(features)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"the model {uri} failed to predict on the evaluation data "
                          f"({first[:300]}); check that the data has the model's inputs") from None
    return scoring.compute(name, frame[target].to_numpy(), predictions)


def model_input(metadata: Any, features: pd.DataFrame, uri: str) -> Any:
    """The evaluation rows as the model takes them: its named input columns (cast to its
    signature's types), or for a tensor signature (wb.train's torch models) an array of its
    feature columns in its dtype."""
    import pandas as pd

    schema = metadata.get_input_schema() if metadata is not None else None
    names = registry.inputs_of(metadata.signature, metadata.metadata) if metadata else None
    if names:
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise ConfigError(f"the evaluation data lacks the input column(s) "
                              f"{', '.join(missing)} of the model {uri}; score on data that "
                              "has them")
    if schema is not None and schema.is_tensor_spec():
        columns = names or [c for c in features.columns
                            if pd.api.types.is_numeric_dtype(features[c])]
        return features[columns].to_numpy(dtype=schema.numpy_types()[0])
    if not names:
        return features
    picked = features[names]
    if schema is not None:
        for column, kind in zip(names, schema.pandas_types(), strict=False):
            if kind is not object and picked[column].dtype != kind:
                try:
                    picked = picked.astype({column: kind})
                except (TypeError, ValueError):
                    raise ConfigError(f"column {column} of the evaluation data holds "
                                      f"{picked[column].dtype}, the model {uri} takes {kind}; "
                                      "cast it") from None
    return picked
