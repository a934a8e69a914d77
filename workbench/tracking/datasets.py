"""Record the training data as an MLflow dataset input, with its digest and schema."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workbench.data import DataSource


def log_dataset(client: MlflowClient, run_id: str, source: DataSource, data: Any,
                target: str | None, context: str = "training") -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    schema = json.dumps({"columns": list(source.columns), "target": target})
    profile = json.dumps({"num_rows": source.rows} if source.rows is not None else {})
    name = source.source.rsplit("/", 1)[-1] if source.kind == "path" else "training-data"
    dataset = Dataset(name=name, digest=source.digest,
                      source_type="local" if source.kind == "path" else "code",
                      source=json.dumps({"uri": source.source, "kind": source.kind}),
                      schema=schema, profile=profile)
    tags = [InputTag("mlflow.data.context", context)]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags)])
    if context == "training":
        client.set_tag(run_id, "workbench.data.digest", source.digest)


def training_data_path(run: Any) -> Any:
    """The Parquet/CSV path a run's dataset input names, if it still exists (else None)."""
    found = _recorded_path(run)
    return found[0] if found else None


def checked_training_data(run: Any) -> Any:
    """`training_data_path(run)`, refused when the data there no longer has the digest the run
    recorded: a gate or a drift check on other data would judge the wrong thing."""
    from workbench.data import inspect
    from workbench.errors import ConfigError

    found = _recorded_path(run)
    if found is None:
        return None
    path, recorded = found
    now = inspect(path).digest
    if recorded and now != recorded:
        raise ConfigError(f"the training data at {path} changed since run {run.info.run_id} "
                          f"(digest {now} != {recorded}); restore it, or pass the data it was "
                          "trained on explicitly (--training-data / drift.reference)")
    return path


def _recorded_path(run: Any) -> tuple[Any, str] | None:
    """(path, recorded digest) of the first dataset input naming a path that exists, training
    inputs first."""
    from pathlib import Path

    inputs = list(run.inputs.dataset_inputs if run.inputs else [])
    inputs.sort(key=lambda d: not any(t.key == "mlflow.data.context" and t.value == "training"
                                      for t in (d.tags or [])))
    for dataset_input in inputs:
        source = dataset_input.dataset.source
        try:
            data = json.loads(source)
            text = data.get("uri") or data.get("path") or data.get("url") or ""
        except (ValueError, AttributeError):
            text = source
        text = str(text).removeprefix("file://")
        if text.startswith("/") and Path(text).exists():
            return Path(text), str(dataset_input.dataset.digest or "")
    return None
