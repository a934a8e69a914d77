"""`history --verify` finds what an operator with registry access can do behind workbench's
back: tags edited directly through MlflowClient, on the embedded store and a tracking server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

import workbench as wb
from tests.promotion.runs import client, model_run
from tests.stores import Store
from workbench.errors import ConfigError
from workbench.promotion import ledger, registry

TAG = registry.HISTORY_TAG


def _two_promotions(store: Store) -> str:
    model = store.unique("audit")
    for auc in (0.7, 0.8):
        wb.promote(model, run_id=model_run(auc), approver="ana", reason="better")
    assert wb.verify_history(model).ok
    return model


def _delete_newest(model: str) -> None:
    client().delete_registered_model_tag(model, f"{TAG}000002")


def _delete_all(model: str) -> None:
    for seq in (1, 2):
        client().delete_registered_model_tag(model, f"{TAG}{seq:06d}")


def _duplicate_seq(model: str) -> None:  # a second entry that claims number 2
    entry = json.loads(client().get_registered_model(model).tags[f"{TAG}000002"])
    client().set_registered_model_tag(model, f"{TAG}000002-b", json.dumps(
        {**entry, "approver": "mallory"}))


def _invalid_json(model: str) -> None:
    client().set_registered_model_tag(model, f"{TAG}000002", '{"seq": 2, "action": "promo')


def _alias_moved(model: str) -> None:  # as in the MLflow UI
    client().set_registered_model_alias(model, "champion", "1")


TAMPERING: dict[str, tuple[Callable[[str], None], str]] = {
    "newest entry deleted": (_delete_newest, r"broken at entry 2: missing \(the model records "
                                             r"2 entries; only 1 remain\)"),
    "every entry deleted": (_delete_all, r"broken at entry 1: missing .*every entry was "
                                         r"deleted"),
    "two entries claim one number": (_duplicate_seq, r"broken at entry 2: two entries claim "
                                                     r"sequence number 2"),
    "entry not JSON": (_invalid_json, r"broken at entry 2: not valid JSON"),
    "alias moved out of band": (_alias_moved, r"the champion alias is v1 but entry 2 put v2 "
                                              r"there: it was moved outside workbench"),
}


# On the embedded store (one person) tampering is found; on the services' governing server
# it is refused before it happens.
ON_THE_SERVER = tuple(TAMPERING)
CASES = [(kind, tamper) for tamper in TAMPERING for kind in ("embedded", "services")
         if kind == "embedded" or tamper in ON_THE_SERVER]


def _refused_on_a_governing_server(edit: Callable[[str], None], model: str) -> None:
    """The services' tracking server governs the model: the edit is refused in one line,
    whoever sends it (these tests run as its admin), and the history stays intact."""
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=rf"{model} is governed by workbench: no login "
                                              "may .* directly; use workbench"):
        edit(model)
    assert wb.verify_history(model).ok


@pytest.mark.parametrize(("store", "tamper"), CASES, indirect=["store"])
def test_verify_finds_tampering(store: Store, tamper: str) -> None:
    model = _two_promotions(store)
    edit, found = TAMPERING[tamper]
    if store.kind == "services":
        _refused_on_a_governing_server(edit, model)
        return
    edit(model)
    check = wb.verify_history(model)
    assert not check.ok
    assert check.why.count("\n") == 0
    import re

    assert re.search(found, check.why), check.why
    if tamper == "alias moved out of band":  # the next move records what it found
        wb.promote(model, run_id=model_run(0.9), approver="ana", reason="v3")
        entry = wb.history(model)[-1]
        assert entry["outside_move"] == {"history_left": "2", "found": "1"}
        assert entry["previous"] == "1" and wb.verify_history(model).ok
        return
    # appending would hide it: a promotion is refused and moves nothing
    with pytest.raises(ConfigError, match=r"history of audit-\w+ (does not end at its head|is "
                                          r"broken at entry 2)"):
        wb.promote(model, run_id=model_run(0.9), approver="ana", reason="v3")
    assert registry.champion_version(client(), model) == "2"
    assert len(client().search_model_versions(f"name = '{model}'")) == 2  # none registered


@pytest.mark.parametrize("store", ["embedded"], indirect=True)  # the server refuses the edit
def test_verify_and_history_cli_say_broken_in_one_line(store: Store) -> None:
    model = _two_promotions(store)
    _invalid_json(model)
    for args in (["history", model, "--verify"], ["history", model]):
        done = subprocess.run([sys.executable, "-m", "workbench.cli", *args],
                              capture_output=True, text=True, env=store.client_env("cli"),
                              timeout=300)
        assert done.returncode == 1
        output = (done.stdout + done.stderr).strip()
        assert "Traceback" not in output and "broken at entry 2: not valid JSON" in output
        assert len(done.stderr.strip().splitlines()) <= 1, done.stderr


def test_a_keyed_chain_cannot_be_rewritten_without_the_key(store: Store,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # on the services the key lives in the tracking server's environment only
    if store.kind == "embedded":
        monkeypatch.setenv("WORKBENCH_HISTORY_KEY", "k3y-only-the-registry-admins-hold")
    model = _two_promotions(store)
    assert wb.verify_history(model).why == "2 entries, chain intact and keyed"
    if store.kind == "services":
        def rewrite(name: str) -> None:
            client().set_registered_model_tag(name, f"{TAG}000001", "{}")
        _refused_on_a_governing_server(rewrite, model)
        return
    # a consistent rewrite of every entry and every head copy, as someone without the key can
    stored = [json.loads(client().get_registered_model(model).tags[f"{TAG}{seq:06d}"])
              for seq in (1, 2)]
    previous = None
    for entry in stored:
        body = {k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash", "mac")}
        previous = ledger.next_entry(previous, {**body, "approver": "mallory"})
        client().set_registered_model_tag(model, f"{TAG}{previous['seq']:06d}",
                                          json.dumps(previous))
        head = json.dumps({"seq": previous["seq"], "hash": previous["hash"]})
        client().set_model_version_tag(model, str(previous["seq"]), registry.HEAD_TAG, head)
    client().set_registered_model_tag(model, registry.HEAD_TAG, head)
    check = wb.verify_history(model)
    assert not check.ok and check.why.startswith("broken at entry 1: its MAC does not match "
                                                 "WORKBENCH_HISTORY_KEY")
    monkeypatch.delenv("WORKBENCH_HISTORY_KEY")  # without the key only the hashes are checked
    assert wb.verify_history(model).ok
