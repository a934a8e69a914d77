"""Registered models copied with their versions (same numbers), tags, aliases and promotion
history, each part only when the target lacks it.

The history and its head are copied byte for byte: they are a hash chain, and a rewritten
entry would no longer verify. A target that already holds a different model of the same name
(other runs behind its versions, a history that parts from the source's) is refused whole
before anything of that model is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.migration.runs import Pair
from workbench.promotion.registry import HEAD_TAG, HISTORY_TAG
from workbench.tracking import leases

if TYPE_CHECKING:
    from mlflow import MlflowClient


def registered_models(client: MlflowClient) -> list[Any]:
    """The registered models, without workbench's own (leases, markers, the store clock)."""
    found, token = [], None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += [m for m in page if not leases.is_internal(m.tags)]
        token = page.token
        if not token:
            return sorted(found, key=lambda m: m.name)


def versions_of(client: MlflowClient, name: str) -> dict[int, Any]:
    """{number: version} of `name`'s live versions."""
    from workbench.tracking.store import filter_literal

    found, token = {}, None
    while True:
        page = client.search_model_versions(f"name = {filter_literal(name)}",
                                            max_results=1000, page_token=token)
        found.update({int(v.version): v for v in page})
        token = page.token
        if not token:
            return dict(sorted(found.items()))


def verbatim(key: str) -> bool:
    """Tags copied as they are: the history chain and its head (ids inside stay the source's)."""
    return key.startswith(HISTORY_TAG) or key == HEAD_TAG


def tag_value(pair: Pair, key: str, value: str) -> str:
    return value if verbatim(key) else pair.ids.rewrite(value)


def sync_model(pair: Pair, model: Any) -> None:
    """`model` in the target as in the source; ConfigError (nothing of it written) when the
    target holds a different model of that name."""
    from mlflow.exceptions import MlflowException

    from workbench.tracking.store import registry_writes

    name, writes = model.name, registry_writes(pair.target)
    source_versions = versions_of(pair.source, name)
    try:
        existing = pair.target.get_registered_model(name)
    except MlflowException:
        existing = None
    target_versions = versions_of(pair.target, name) if existing is not None else {}
    if existing is not None:
        _refuse_divergence(pair, model, existing, source_versions, target_versions)
    else:
        writes.create_registered_model(name, description=model.description or None)
        pair.count("registered_models", 1)
    for number, version in source_versions.items():
        if number not in target_versions:
            _create_version(pair, name, number, version)
        _sync_version(pair, name, version, target_versions.get(number))
    have = dict(existing.tags) if existing is not None else {}
    for key, value in model.tags.items():  # the history before the head that anchors it
        if have.get(key) != tag_value(pair, key, value):
            writes.set_registered_model_tag(name, key, tag_value(pair, key, value))
    if existing is not None and (existing.description or "") != (model.description or ""):
        writes.update_registered_model(name, description=model.description or "")
    live = dict(existing.aliases) if existing is not None else {}
    for alias, number in model.aliases.items():
        if str(live.get(alias)) != str(number):
            writes.set_registered_model_alias(name, alias, str(number))
    for alias in set(live) - set(model.aliases):
        writes.delete_registered_model_alias(name, alias)


def _refuse_divergence(pair: Pair, model: Any, existing: Any, source: dict[int, Any],
                       target: dict[int, Any]) -> None:
    name = model.name

    def refuse(why: str) -> None:
        raise ConfigError(f"model {name!r}: the target already holds a different model of that "
                          f"name ({why}); nothing of it was copied: rename one of them, or "
                          "migrate into a store without it")

    for number, version in target.items():
        if number not in source:
            refuse(f"its v{number} is not in the source")
        wanted = pair.ids.runs.get(source[number].run_id or "", source[number].run_id or "")
        if (version.run_id or "") != wanted:
            refuse(f"its v{number} comes from run {version.run_id}, the source's from "
                   f"{source[number].run_id}")
    for key, value in existing.tags.items():
        if key.startswith(HISTORY_TAG) and model.tags.get(key) != value:
            seq = key[len(HISTORY_TAG):].lstrip("0") or "0"
            refuse(f"its promotion history differs at entry {seq}")


def _create_version(pair: Pair, name: str, number: int, version: Any) -> None:
    """Version `number` with the source's number: a number the source deleted is taken by a
    placeholder, deleted at once, so the numbers after it line up."""
    from workbench.tracking.store import registry_writes

    writes = registry_writes(pair.target)
    source, run_id = _source(pair, version), pair.ids.runs.get(version.run_id or "")
    model_id = pair.ids.models.get(logged_model_of(version))
    while True:
        created = pair.target.create_model_version(
            name, source, run_id=run_id, description=version.description or None,
            model_id=model_id,
            tags={k: tag_value(pair, k, v) for k, v in version.tags.items()})
        made = int(created.version)
        if made == number:
            pair.count("model_versions", 1)
            return
        writes.delete_model_version(name, str(made))
        if made > number:
            raise ConfigError(f"model {name!r}: the target numbered the copy of v{number} "
                              f"v{made} (versions deleted there?); delete the model there and "
                              "migrate again")


def logged_model_of(version: Any) -> str:
    """The logged model a version holds: its `model_id`, which a SQLite store does not return
    (then its `models:/m-...` source names it); "" for a version of run artifacts."""
    found = getattr(version, "model_id", None) or ""
    source = str(version.source or "")
    if not found and source.startswith("models:/m-"):
        found = source.removeprefix("models:/").split("/")[0]
    return str(found)


def _sync_version(pair: Pair, name: str, version: Any, existing: Any | None) -> None:
    from workbench.tracking.store import registry_writes

    writes, number = registry_writes(pair.target), str(version.version)
    have = dict(existing.tags) if existing is not None else {}
    for key, value in version.tags.items():
        if have.get(key) != tag_value(pair, key, value):
            writes.set_model_version_tag(name, number, key, tag_value(pair, key, value))
    if existing is not None and (existing.description or "") != (version.description or ""):
        writes.update_model_version(name, number, description=version.description or "")


def _source(pair: Pair, version: Any) -> str:
    """Where the copy's files are: a logged model's `models:/` id mapped to its copy; files
    in the source run's artifacts as `runs:/` of the run's copy; any other URI as it is."""
    source = str(version.source or "")
    if source.startswith("models:/"):
        return pair.ids.rewrite(source)
    if version.run_id and version.run_id in pair.ids.runs:
        root = pair.source.get_run(version.run_id).info.artifact_uri.rstrip("/")
        if source == root or source.startswith(root + "/"):
            rel = source[len(root):].strip("/")
            return f"runs:/{pair.ids.runs[version.run_id]}/{rel}"
    return source
