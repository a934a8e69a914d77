"""The two stores compared after a copy: each run, logged model and registered model read on
both sides into the same plain view (source ids mapped to the target's), part by part, so a
difference names what differs. Marks the copy carries (`migrated_from`, `complete`) and tags
the target added on its own (a server's `mlflow.user`) are not part of what is compared.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.migration import runs as copying
from workbench.migration.models import logged_model_of, tag_value, versions_of
from workbench.migration.runs import Pair
from workbench.promotion import ledger


@dataclass
class Kind:
    """One kind of thing compared: how many the source holds, how many the target matches,
    and for each one that differs, which part."""

    source: int = 0
    matched: int = 0
    differ: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "matched": self.matched, "differ": list(self.differ)}


def digest(view: Any) -> str:
    return ledger.digest(ledger.canonical(view))


def compare(kind: Kind, label: str, source: dict[str, Any], target: dict[str, Any] | None
            ) -> bool:
    kind.source += 1
    if target is None:
        kind.differ.append(f"{label}: missing in the target")
        return False
    parts = [part for part in source if digest(source[part]) != digest(target.get(part))]
    if parts:
        kind.differ.append(f"{label}: {', '.join(parts)} differ")
        return False
    kind.matched += 1
    return True


def run_view(pair: Pair, run: Any, side: str, keys: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """The parts of `run` as the other side must hold them; on the target, only the tags the
    source has (`keys`)."""
    client = pair.source if side == "source" else pair.target
    def models(model_id: str) -> str:
        return str(pair.ids.models.get(model_id, model_id) if side == "source" else model_id)

    run_id = run.info.run_id
    tags = {k: pair.ids.rewrite(v) for k, v in run.data.tags.items()} if side == "source" \
        else {k: v for k, v in run.data.tags.items() if k in (keys or {})}
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = copying.file_digests(copying.download_run(client, run_id, Path(scratch)))
    inputs = run.inputs
    return {
        "info": [run.info.run_name, run.info.status, run.info.start_time, run.info.end_time],
        "params": dict(run.data.params),
        "tags": {k: v for k, v in tags.items() if k not in copying.MARKS},
        "metrics": {key: sorted(copying.point_key(m)[1:]
                                for m in copying.points(client, run_id, key))
                    for key in sorted(run.data.metrics)},
        "artifacts": artifacts,
        "datasets": sorted(repr(copying.dataset_key(d)) for d in (inputs.dataset_inputs or []))
        if inputs else [],
        "models": sorted([models(m.model_id) for m in (inputs.model_inputs or [])]
                         if inputs else [])
        + sorted(f"out:{models(m.model_id)}@{m.step}" for m in
                 ((run.outputs.model_outputs or []) if run.outputs else [])),
    }


def logged_model_view(pair: Pair, model: Any, side: str, keys: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """A logged model's parts; on the target, only the tags the source has (`keys`: a server
    adds `mlflow.modelVersions` as versions are registered)."""
    source = side == "source"
    tags = {k: pair.ids.rewrite(v) if source else v for k, v in model.tags.items()
            if k not in copying.MARKS and (source or k in (keys or {}))}
    with tempfile.TemporaryDirectory() as scratch:
        files = copying.file_digests(copying.download_logged_model(
            pair.source_uri if source else pair.target_uri, model, Path(scratch)))
    run = pair.ids.runs.get(model.source_run_id or "", model.source_run_id) if source \
        else model.source_run_id
    return {"info": [model.name, str(model.status), model.model_type or "", run],
            "params": dict(model.params), "tags": tags, "artifacts": files}


def model_view(pair: Pair, model: Any, side: str, keys: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """A registered model's parts; versions by number, with their run and logged model."""
    source = side == "source"
    client = pair.source if source else pair.target
    tags = {k: tag_value(pair, k, v) for k, v in model.tags.items()} if source \
        else {k: v for k, v in model.tags.items() if k in (keys or {})}
    versions = {}
    for number, version in versions_of(client, model.name).items():
        run_id, model_id = version.run_id or "", logged_model_of(version)
        if source:
            run_id = pair.ids.runs.get(run_id, run_id)
            model_id = pair.ids.models.get(model_id, model_id)
        versions[str(number)] = {
            "run": run_id, "logged_model": model_id, "description": version.description or "",
            "tags": {k: tag_value(pair, k, v) if source else v
                     for k, v in version.tags.items()}}
    return {"description": model.description or "", "tags": tags,
            "aliases": {k: str(v) for k, v in model.aliases.items()}, "versions": versions}
