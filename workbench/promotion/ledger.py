"""The promotion history as a hash chain: each entry commits to the one before it.

Pure module: the registry adapter reads the tags and artifacts, this decides. Changing,
removing or reordering any entry breaks every hash after it; a head (seq, hash) anchored beside
the chain (on the model and on each champion version) finds a deleted newest entry or a deleted
chain; with a key every entry carries an HMAC, so rewriting the whole chain needs the key.
Parts too large for a registry tag live in artifacts; the entry keeps their sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
MOVES = ("promoted", "rollback")  # the actions that move the champion alias
OUTSIDE = ("hash", "mac")  # stored beside the body, not hashed


class Broken(ValueError):
    """The stored history cannot be read as a chain: "broken at entry N: why"."""


@dataclass(frozen=True)
class Check:
    ok: bool
    why: str

    def __iter__(self) -> Any:  # `ok, why = verify(...)` keeps working
        return iter((self.ok, self.why))


@dataclass(frozen=True)
class Anchor:
    """A copy of the chain's head at some moment, and where it was found; with a key, an HMAC
    binding it to its model (a head copied from another model, or written without the key,
    does not verify)."""

    where: str  # "the model" or "v3"
    seq: int
    hash: str
    mac: str | None = None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entry_hash(body: Mapping[str, Any]) -> str:
    return digest(canonical(body))


def mac(key: bytes, entry_hash_: str) -> str:
    return hmac.new(key, entry_hash_.encode(), hashlib.sha256).hexdigest()


def anchor_mac(key: bytes, model: str, seq: int, hash_: str) -> str:
    return mac(key, f"anchor\n{model}\n{seq}\n{hash_}")


def anchor_value(model: str, seq: int, hash_: str, key: bytes | None) -> dict[str, Any]:
    """What a head tag holds: seq and hash, and their MAC when there is a key."""
    value: dict[str, Any] = {"seq": seq, "hash": hash_}
    if key:
        value["mac"] = anchor_mac(key, model, seq, hash_)
    return value


def next_entry(previous: Mapping[str, Any] | None, event: Mapping[str, Any],
               key: bytes | None = None) -> dict[str, Any]:
    """`event` (action, who, when, why, versions, ...) chained after `previous` (stored form:
    parts moved to artifacts appear only as their `blobs` digests)."""
    body = {**event, "seq": (int(previous["seq"]) + 1) if previous else 1,
            "prev_hash": previous["hash"] if previous else GENESIS}
    entry = {**body, "hash": entry_hash(body)}
    if key:
        entry["mac"] = mac(key, entry["hash"])
    return entry


def split_large(event: Mapping[str, Any], limit: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Move the largest fields out of `event` until its JSON fits in `limit` characters:
    (what stays, {field: canonical JSON text of what moved})."""
    kept, moved = dict(event), {}
    by_size = sorted(kept, key=lambda k: (-len(canonical(kept[k])), k))
    for name in by_size:
        if len(canonical(kept)) <= limit:
            break
        if name in ("action", "model", "seq"):
            continue
        moved[name] = canonical(kept.pop(name))
    return kept, moved


def expand(stored: Mapping[str, Any], texts: Mapping[str, str | None]) -> dict[str, Any]:
    """The entry as users read it: stored fields plus the moved parts found (`texts`)."""
    out = dict(stored)
    for name, text in texts.items():
        if text is not None:
            out[name] = json.loads(text)
    return out


def parse(tags: Mapping[str, str], prefix: str) -> list[dict[str, Any]]:
    """The entries in tags `prefix + NNNNNN`, by sequence; `Broken` when one is not JSON, two
    claim one sequence number or a tag holds an entry of another number."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for key in sorted(k for k in tags if k.startswith(prefix)):
        label = key[len(prefix):]
        where = str(int(label)) if label.isdigit() else repr(key)
        try:
            entry = json.loads(tags[key])
            seq = int(entry["seq"])
        except (ValueError, TypeError, KeyError):
            raise Broken(f"broken at entry {where}: not valid JSON (or no sequence number) in "
                         f"tag {key}") from None
        if seq in found:
            raise Broken(f"broken at entry {seq}: two entries claim sequence number {seq} "
                         f"(tags {found[seq][0]} and {key})")
        if not label.isdigit() or int(label) != seq:
            raise Broken(f"broken at entry {seq}: tag {key} holds entry {seq} (moved?)")
        found[seq] = (key, entry)
    return [found[seq][1] for seq in sorted(found)]


def verify(entries: Sequence[Mapping[str, Any]], *, head: Anchor | None = None,
           anchors: Sequence[Anchor] = (), champion: str | None = None,
           check_champion: bool = False, key: bytes | None = None, model: str = "",
           approved: Sequence[str] = ()) -> Check:
    """Check(True, "n entries, chain intact") or Check(False, "broken at entry N: why").

    With `key`: every entry from the first keyed `adopted` entry on (else every entry) must
    carry its MAC, and so must the model's head (version anchors written without the key are
    not trusted, so not used). `approved`: the versions carrying approval tags; each must have
    been promoted by an entry, so approvals whose history is gone are found."""
    keyed_from = _keyed_from(entries, key)
    previous = GENESIS
    for index, entry in enumerate(entries, start=1):
        blobs = entry.get("blobs") or {}
        body = {k: v for k, v in entry.items() if k not in OUTSIDE and k not in blobs}
        if entry.get("seq") != index:
            return Check(False, f"broken at entry {index}: sequence number {entry.get('seq')} "
                                "(entries missing?)")
        if entry.get("prev_hash") != previous:
            return Check(False, f"broken at entry {index}: does not follow entry {index - 1}")
        if entry_hash(body) != entry.get("hash"):
            return Check(False, f"broken at entry {index}: content does not match its hash "
                                "(edited)")
        for name, ref in blobs.items():
            if name not in entry:
                return Check(False, f"broken at entry {index}: its {name} artifact "
                                    f"{ref.get('uri')} is missing")
            if digest(canonical(entry[name])) != ref.get("sha256"):
                return Check(False, f"broken at entry {index}: its {name} artifact does not "
                                    "match its digest (edited)")
        if key is not None and index > keyed_from and \
                entry.get("mac") != mac(key, str(entry.get("hash"))):
            return Check(False, f"broken at entry {index}: its MAC does not match "
                                "WORKBENCH_HISTORY_KEY (rewritten without the key, or another "
                                "key)")
        previous = str(entry["hash"])
    if key is not None:
        if head is not None and head.mac != anchor_mac(key, model, head.seq, head.hash):
            return Check(False, f"broken at entry {head.seq}: the head on the model does not "
                                "carry WORKBENCH_HISTORY_KEY's MAC (written outside the "
                                "server?)")
        bad = [a for a in anchors if a.mac and a.mac != anchor_mac(key, model, a.seq, a.hash)]
        if bad:
            return Check(False, f"broken at entry {bad[0].seq}: the head recorded on "
                                f"{bad[0].where} does not carry WORKBENCH_HISTORY_KEY's MAC")
        anchors = [a for a in anchors if a.mac]
    count = len(entries)
    legacy = not anchors and not any(e.get("anchored") for e in entries)  # before heads
    if head is None and (entries or anchors) and not legacy:
        return Check(False, f"broken at entry {count}: the history's head tag is missing "
                            "(deleted?)")
    for anchor in ([head] if head else []) + list(anchors):
        if anchor.seq > count:
            gone = "every entry was deleted" if not count else f"only {count} remain"
            return Check(False, f"broken at entry {count + 1}: missing ({anchor.where} records "
                                f"{anchor.seq} entries; {gone})")
        if anchor.seq >= 1 and entries[anchor.seq - 1].get("hash") != anchor.hash:
            return Check(False, f"broken at entry {anchor.seq}: does not match the head "
                                f"recorded on {anchor.where} (rewritten?)")
    if head is not None and head.seq < count:
        return Check(False, f"broken at entry {head.seq + 1}: not anchored by the head (written "
                            "outside workbench?)")
    promoted = {str(e.get("version")) for e in entries if e.get("action") == "promoted"}
    orphans = sorted((v for v in approved if v not in promoted), key=_version_order)
    if orphans:
        gone = "the history is gone" if not count else "no history entry promoted it"
        return Check(False, f"broken at entry {count + 1}: v{orphans[0]} carries an approval "
                            f"record but {gone} (entries deleted, or tags written outside "
                            "workbench)")
    if check_champion:
        moved = next((e for e in reversed(entries) if e.get("action") in MOVES), None)
        left = champion_left(entries)
        if champion != left:
            by = f"entry {moved['seq']} put v{left} there" if moved else "no entry moved it"
            live = f"v{champion}" if champion else "unset"
            return Check(False, f"the champion alias is {live} but {by}: it was moved outside "
                                "workbench (e.g. in the MLflow UI)")
    keyed = count and any("mac" in e for e in entries)
    note = " (keyed: set WORKBENCH_HISTORY_KEY to check the MACs)" if keyed and key is None \
        else " and keyed" if key is not None and count else ""
    return Check(True, f"{count} entries, chain intact{note}")


def _keyed_from(entries: Sequence[Mapping[str, Any]], key: bytes | None) -> int:
    """How many leading entries need no MAC: those before the first `adopted` entry made with
    the key (it commits to them through its prev_hash), else none."""
    if key is None:
        return 0
    for index, entry in enumerate(entries):
        if entry.get("action") == "adopted" and entry.get("mac") == mac(key, str(entry.get(
                "hash"))):
            return index
    return 0


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def champion_path(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The champions a rollback walks back through, oldest first, the current one last: a
    promotion pushes its version, a rollback returns to an earlier one (dropping what came
    after it), so rolling back never goes forward."""
    path: list[str] = []
    for entry in entries:
        if entry.get("action") not in MOVES or entry.get("version") is None:
            continue
        version = str(entry["version"])
        if entry["action"] == "rollback" and version in path:
            del path[len(path) - path[::-1].index(version):]
        elif not path or path[-1] != version:
            path.append(version)
    return path


def champion_left(entries: Sequence[Mapping[str, Any]]) -> str | None:
    """The version the last alias move of the history put in place (None: never moved)."""
    moved = next((e for e in reversed(entries) if e.get("action") in MOVES), None)
    return str(moved["version"]) if moved and moved.get("version") is not None else None


def ever_champion(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(e["version"]) for e in entries
            if e.get("action") in MOVES and e.get("version") is not None}


def same_person(a: str | None, b: str | None) -> bool:
    """Identities compared as people type them: case and whitespace do not matter."""
    if not a or not b:
        return False
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
