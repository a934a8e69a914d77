"""The public read side of promotion, for users, the dashboards and the extension: models,
their champion, pending requests, history and its verification. Nothing here writes."""

from __future__ import annotations

from typing import Any

from workbench.promotion import ledger, registry
from workbench.promotion.ledger import Check

HistoryCheck = Check  # ok: bool, why: str ("n entries, chain intact" or "broken at entry N: ...")

__all__ = ["HistoryCheck", "champion", "history", "models", "pending", "rollback_target",
           "verify_history"]


def _client() -> Any:
    from workbench.tracking.store import read_client

    return read_client()  # these only read: the embedded store is read without MLflow


def models() -> list[str]:
    """Registered model names, sorted, without workbench's internal ones (locks, leases)."""
    return registry.model_names(_client())


def champion(model: str) -> str | None:
    """The version the `champion` alias points at, or None."""
    return registry.champion_version(_client(), model)


def history(model: str) -> list[dict[str, Any]]:
    """Every alias move, promotion, request, decision, rejection, rollback and unlock of
    `model`, oldest first, large parts read back from their artifacts."""
    return registry.read_history(_client(), model)


def pending(model: str, entries: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The promotion and rollback requests of `model` still waiting for a decision (each
    completed with `approve("MODEL/SEQ", ...)`); `entries`: its history, if already read."""
    return registry.pending_requests(model, history(model) if entries is None else entries)


def rollback_target(model: str, entries: list[dict[str, Any]] | None = None) -> str | None:
    """The version `rollback(model)` would move the champion back to; None where it would
    refuse (no champion, none before it, or the alias moved outside workbench)."""
    current = champion(model)
    path = ledger.champion_path(history(model) if entries is None else entries)
    if current is None or not path or path[-1] != current or len(path) < 2:
        return None
    return str(path[-2])


def verify_history(model: str) -> HistoryCheck:
    """Check the chain: hashes, sequence, head anchors, the live champion alias, the approval
    tags, and the MACs when WORKBENCH_HISTORY_KEY is set (a governing tracking server checks
    them with its own key, which never leaves it). Never raises for a broken history: `ok` is
    False and `why` says where ("broken at entry N: ...")."""
    from workbench.governance.remote import governing_server

    server = governing_server()
    if server is not None:
        found = server.verify(model)
        return Check(bool(found["ok"]), str(found["why"]))
    return registry.verify_ledger(registry.read_ledger(_client(), model),
                                  registry.history_key())
