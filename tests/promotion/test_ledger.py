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


def _head(entries: list[dict[str, object]], key: bytes | None = None,
          model: str = "") -> ledger.Anchor:
    value = ledger.anchor_value(model, len(entries), str(entries[-1]["hash"]), key)
    return ledger.Anchor("the model", value["seq"], value["hash"], value.get("mac"))


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
    assert ledger.verify(entries, head=_head(entries, b"k"), key=b"k").why == \
        "2 entries, chain intact and keyed"
    # a head without the key's MAC, or one copied from another model, does not verify
    for head in (_head(entries), _head(entries, b"k", model="another")):
        assert "the head on the model does not carry WORKBENCH_HISTORY_KEY's MAC" in \
            ledger.verify(entries, head=head, key=b"k").why
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


def test_approvals_without_their_history_are_broken_not_legacy() -> None:
    assert ledger.verify([], approved=["1", "3"]).why == (
        "broken at entry 1: v1 carries an approval record but the history is gone (entries "
        "deleted, or tags written outside workbench)")
    entries = _chain({"action": "promoted", "version": "1"})
    assert ledger.verify(entries, head=_head(entries), approved=["1"]).ok
    assert "v2 carries an approval record but no history entry promoted it" in \
        ledger.verify(entries, head=_head(entries), approved=["1", "2"]).why


def test_an_adopted_history_is_keyed_from_its_adoption_on() -> None:
    before = _chain({"action": "promoted", "version": "1"})  # written with no key
    adopted = ledger.next_entry(before[-1], {"action": "adopted", "anchored": True}, b"k")
    entries = [*before, adopted]
    assert ledger.verify(entries, head=_head(entries, b"k"), key=b"k").ok
    # a later entry without the key breaks it; so does an adoption forged without the key
    later = ledger.next_entry(adopted, {"action": "promoted", "version": "2", "anchored": True})
    assert "broken at entry 3: its MAC does not match" in ledger.verify(
        [*entries, later], head=_head([*entries, later], b"k"), key=b"k").why
    forged = ledger.next_entry(before[-1], {"action": "adopted", "anchored": True}, b"guess")
    assert "broken at entry 1: its MAC does not match" in ledger.verify(
        [*before, forged], head=_head([*before, forged], b"k"), key=b"k").why


def test_people_compare_as_they_type() -> None:
    assert ledger.same_person(" Ana  Lima", "ana lima ")
    assert not ledger.same_person("ana", "anna") and not ledger.same_person(None, None)
