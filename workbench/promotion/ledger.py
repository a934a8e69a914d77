"""The promotion history as a hash chain: each entry commits to the one before it.

Pure module. Changing, removing or reordering any entry breaks every hash after it, so
`verify` finds the first entry that does not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64


def entry_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_entry(previous: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """`event` (action, who, when, why, versions, ...) chained after `previous`."""
    body = {**event, "seq": (int(previous["seq"]) + 1) if previous else 1,
            "prev_hash": previous["hash"] if previous else GENESIS}
    return {**body, "hash": entry_hash(body)}


def verify(entries: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """(True, "n entries, chain intact") or (False, what is wrong at which entry)."""
    previous = GENESIS
    for index, entry in enumerate(entries, start=1):
        body = {k: v for k, v in entry.items() if k != "hash"}
        if entry.get("seq") != index:
            return False, f"entry {index}: sequence number {entry.get('seq')} (missing entries?)"
        if entry.get("prev_hash") != previous:
            return False, f"entry {index}: does not follow entry {index - 1}"
        if entry_hash(body) != entry.get("hash"):
            return False, f"entry {index}: content does not match its hash (edited)"
        previous = str(entry["hash"])
    return True, f"{len(entries)} entries, chain intact"
