"""The pure side of the history: the chain, its head, large parts by digest, the way back."""

from __future__ import annotations

import json

from workbench.promotion import ledger


def _chain(*events: dict[str, object], key: bytes | None = None) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for event in events:
        entries.append(ledger.next_entry(entries[-1] if entries else None,
                                         {**event, "anchored": True}, key))
    return entries


def _head(entries: list[dict[str, object]]) -> ledger.Anchor:
    return ledger.Anchor("the model", len(entries), str(entries[-1]["hash"]))


def test_the_way_back_drops_what_was_rolled_back_from() -> None:
    moves = [{"action": "promoted", "version": v} for v in "123"]
    assert ledger.champion_path(moves) == ["1", "2", "3"]
    back = [*moves, {"action": "rollback", "version": "2"}, {"action": "rejected"},
            {"action": "promoted", "version": "4"}]
    assert ledger.champion_path(back) == ["1", "2", "4"]
    assert ledger.champion_path([*back, {"action": "rollback", "version": "1"}]) == ["1"]


def test_large_parts_move_out_and_are_checked_by_digest() -> None:
    event = {"action": "promoted", "model": "m", "reason": "r" * 9000, "approver": "ana"}
    kept, moved = ledger.split_large(event, 4000)
    assert set(moved) == {"reason"} and len(json.dumps(kept)) < 4000
    kept["blobs"] = {"reason": {"sha256": ledger.digest(moved["reason"]), "uri": "runs:/r/x"}}
    entry = ledger.expand(ledger.next_entry(None, {**kept, "anchored": True}), moved)
    assert entry["reason"] == "r" * 9000
    assert ledger.verify([entry], head=_head([entry])).ok
    assert ledger.verify([{**entry, "reason": "edited"}], head=_head([entry])).why == \
        "broken at entry 1: its reason artifact does not match its digest (edited)"
    missing = {k: v for k, v in entry.items() if k != "reason"}
    assert "its reason artifact runs:/r/x is missing" in ledger.verify([missing]).why


def test_heads_and_keys() -> None:
    entries = _chain({"action": "promoted", "version": "1"},
                     {"action": "promoted", "version": "2"}, key=b"k")
    assert ledger.verify(entries, head=_head(entries), key=b"k").why == \
        "2 entries, chain intact and keyed"
    assert "keyed: set WORKBENCH_HISTORY_KEY" in ledger.verify(entries, head=_head(entries)).why
    assert "its MAC does not match" in ledger.verify(entries, head=_head(entries),
                                                     key=b"other").why
    assert ledger.verify(entries[:1], head=_head(entries)).why.startswith(
        "broken at entry 2: missing")
    assert ledger.verify(entries, head=_head(entries[:1])).why.startswith(
        "broken at entry 2: not anchored by the head")
    old = ledger.Anchor("v1", 1, "f" * 64)
    assert ledger.verify(entries, head=_head(entries), anchors=[old]).why == \
        "broken at entry 1: does not match the head recorded on v1 (rewritten?)"
    legacy = [ledger.next_entry(None, {"action": "promoted", "version": "1"})]
    assert ledger.verify(legacy).ok  # written before heads existed


def test_people_compare_as_they_type() -> None:
    assert ledger.same_person(" Ana  Lima", "ana lima ")
    assert not ledger.same_person("ana", "anna") and not ledger.same_person(None, None)
