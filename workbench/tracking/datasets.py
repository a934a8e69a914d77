"""Record the training and evaluation data as MLflow dataset inputs, with digest and schema."""

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


EVALUATION = "evaluation"  # the dataset context of held-out data the model is judged on
CONTEXT_TAG = "mlflow.data.context"


def log_evaluation_data(data: Any, *, target: str | None = None, run_id: str | None = None,
                        name: str = "evaluation") -> None:
    """Record the held-out data a run's model is judged on (a dataset input with context
    "evaluation"): a beat-champion gate re-scores the champion on it. A Parquet/CSV path is
    recorded with its digest; a DataFrame is stored with the run (Parquet artifact), so the
    gate finds exactly these rows later. `run_id` defaults to the active run (inside wb.train)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import mlflow
    import pandas as pd

    from workbench.data import inspect, require_columns
    from workbench.errors import ConfigError

    active = mlflow.active_run()
    run_id = run_id or (active.info.run_id if active else None)
    if run_id is None:
        raise ConfigError("log_evaluation_data needs a run: call it inside a wb.train function, "
                          "or pass run_id=")
    client = mlflow.MlflowClient()
    if not isinstance(data, pd.DataFrame):
        source = inspect(data)
        require_columns(source, target)
        log_dataset(client, run_id, source, data, target, context=EVALUATION)
        return
    with tempfile.TemporaryDirectory() as scratch:
        file = Path(scratch) / f"{name}.parquet"
        data.to_parquet(file, index=False)
        source = inspect(file)
        require_columns(source, target)
        client.log_artifact(run_id, str(file), EVALUATION)
    uri = f"runs:/{run_id}/{EVALUATION}/{file.name}"
    log_dataset(client, run_id, dataclasses.replace(source, source=uri, rows=len(data)), None,
                target, context=EVALUATION)


def evaluation_input(run: Any) -> dict[str, Any] | None:
    """The newest evaluation dataset input of `run`: uri, digest, rows, target (None if none)."""
    found = [d for d in (run.inputs.dataset_inputs if run.inputs else [])
             if _context(d) == EVALUATION]
    if not found:
        return None
    dataset = found[-1].dataset
    schema, profile = _json(dataset.schema), _json(dataset.profile)
    return {"uri": _source_text(dataset.source), "digest": str(dataset.digest or ""),
            "name": dataset.name, "target": schema.get("target"),
            "rows": profile.get("num_rows"), "workbench": "columns" in schema}


def recorded_target(run: Any) -> str | None:
    """The target column recorded with a run's training data (wb.train's `target`)."""
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        if _context(dataset_input) == "training":
            target = _json(dataset_input.dataset.schema).get("target")
            if target:
                return str(target)
    return None


def _context(dataset_input: Any) -> str | None:
    return next((t.value for t in (dataset_input.tags or []) if t.key == CONTEXT_TAG), None)


def _json(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _source_text(source: str) -> str:
    data = _json(source)
    text = data.get("uri") or data.get("path") or data.get("url") or ("" if data else source)
    return str(text).removeprefix("file://")


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

    inputs = [d for d in (run.inputs.dataset_inputs if run.inputs else [])
              if _context(d) != EVALUATION]  # held-out data is not what it was trained on
    inputs.sort(key=lambda d: _context(d) != "training")
    for dataset_input in inputs:
        text = _source_text(dataset_input.dataset.source)
        if text.startswith("/") and Path(text).exists():
            return Path(text), str(dataset_input.dataset.digest or "")
    return None
