"""The MLflow model registry as promotion needs it: champion, lock, history, versions.

MLflow has no compare-and-set on aliases, so a promotion holds a lock: a registered model named
`<model>.promotion-lock`, which the store creates atomically (its name is unique) and deletes on
release; one left by a crashed process is broken after `LOCK_STALE_S`. The history lives in the
registered model's tags, one hash-chained entry per tag.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError, PromotionConflict
from workbench.promotion.ledger import next_entry

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
HISTORY_TAG = "workbench.history."
LOCK_SUFFIX = ".promotion-lock"
LOCK_WAIT_S = 30.0
LOCK_STALE_S = 300.0


def champion_version(client: MlflowClient, model: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model, CHAMPION).version)
    except Exception:
        return None


FOUR_EYES_TAG = "workbench.policy.four_eyes"


def requires_four_eyes(client: MlflowClient, model: str) -> bool:
    try:
        return client.get_registered_model(model).tags.get(FOUR_EYES_TAG, "") == "true"
    except Exception:
        return False


def ensure_registered(client: MlflowClient, model: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model)
    except MlflowException:
        try:
            client.create_registered_model(model)
        except MlflowException:
            client.get_registered_model(model)  # created by a concurrent promotion


@contextmanager
def promotion_lock(client: MlflowClient, model: str, wait_s: float = LOCK_WAIT_S
                   ) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    name = model + LOCK_SUFFIX
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.create_registered_model(name, tags={"workbench.lock": "promotion"})
            break
        except MlflowException:
            _break_if_stale(client, name)
            if time.monotonic() > deadline:
                raise PromotionConflict(f"another promotion of {model} holds the lock "
                                        f"({name}); try again when it is done") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        with suppress(Exception):  # already broken as stale by someone else
            client.delete_registered_model(name)


def _break_if_stale(client: MlflowClient, name: str) -> None:
    try:
        lock = client.get_registered_model(name)
    except Exception:
        return
    if time.time() * 1000 - int(lock.creation_timestamp or 0) > LOCK_STALE_S * 1000:
        with suppress(Exception):
            client.delete_registered_model(name)


def read_history(client: MlflowClient, model: str) -> list[dict[str, Any]]:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(model).tags
    except MlflowException:
        raise ConfigError(f"no registered model {model!r}; check the name") from None
    entries = [json.loads(v) for k, v in tags.items() if k.startswith(HISTORY_TAG)]
    return sorted(entries, key=lambda e: int(e.get("seq", 0)))


def pending_requests(model: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `requested` entries no approval or decline has answered yet."""
    decided = {e.get("request") for e in entries if e.get("request")}
    return [e for e in entries
            if e.get("action") == "requested" and f"{model}/{e['seq']}" not in decided]


def append_history(client: MlflowClient, model: str, event: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Add an entry (call with the promotion lock held)."""
    entries = read_history(client, model)
    entry = next_entry(entries[-1] if entries else None, event)
    client.set_registered_model_tag(model, f"{HISTORY_TAG}{entry['seq']:06d}",
                                    json.dumps(entry, sort_keys=True, default=str))
    return entry


def version_for_run(client: MlflowClient, model: str, run_id: str) -> str:
    """The version holding `run_id`'s model, registered now if it is not yet."""
    import mlflow

    from workbench.tracking.store import filter_literal

    for version in client.search_model_versions(f"name = {filter_literal(model)}"):
        if version.run_id == run_id:
            return str(version.version)
    registered = mlflow.register_model(f"runs:/{run_id}/model", model)
    return str(registered.version)
