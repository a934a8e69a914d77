"""The promotion lock across separate processes, on the embedded store and a tracking server:
one winner among racing promotions, a frozen holder taken over moves nothing and never deletes
its successor's lock, `unlock` clears a crashed holder (and is recorded), store errors surface
at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import workbench as wb
from tests.helpers import wait_for
from tests.promotion.runs import champion, client, model_run
from tests.stores import GATE_WAIT, Store, finish, release, spawn
from workbench.errors import ConfigError
from workbench.promotion import registry
from workbench.tracking import leases

RACE = GATE_WAIT + """
import workbench as wb
from workbench.errors import PromotionConflict
try:
    record = wb.promote(sys.argv[2], run_id=sys.argv[3], approver="racer", reason="race",
                        expect_version="1")  # on the services, the racer's own login
    print("won", record.version)
except PromotionConflict as exc:
    print("lost", exc)
"""


def test_racing_promotions_have_one_winner(store: Store) -> None:
    model = store.unique("race")
    wb.promote(model, run_id=model_run(0.7), approver="ana", reason="v1")
    runs = [model_run(0.8 + 0.01 * i) for i in range(3)]
    gate = store.tmp / "go"
    racers = [spawn(RACE, store.person_env(f"r{i}", "racer"), args=[str(gate), model, run_id])
              for i, run_id in enumerate(runs)]
    time.sleep(4)  # imported and waiting at the gate
    release(gate)
    results = [finish(p) for p in racers]
    assert all(code == 0 for code, _, _ in results), "\n---\n".join(
        f"exit {code}\n{out}\n{err}" for code, out, err in results)
    outs = [out.strip() for _, out, _ in results]
    winners = [o for o in outs if o.startswith("won")]
    assert len(winners) == 1, outs
    assert all("expected v1" in o for o in outs if o.startswith("lost")), outs
    assert champion(model) == winners[0].split()[1]
    assert [e["action"] for e in wb.history(model)] == ["promoted", "promoted"]
    assert wb.verify_history(model).ok


HOLD = """
import pathlib, sys, time
from workbench.errors import PromotionConflict
from workbench.promotion import registry
from workbench.tracking.store import tracking_client
model, gate = sys.argv[1], pathlib.Path(sys.argv[2])
registry.LOCK_STALE_S = float(sys.argv[3])
client = tracking_client()
with registry.promotion_lock(client, model, wait_s=120) as lease:
    print("held", lease.token, flush=True)
    while not gate.exists():
        time.sleep(0.05)
    try:
        registry.still_held(lease, model)
        print("still held", flush=True)
    except PromotionConflict as exc:
        print("lost", exc, flush=True)
"""


def test_a_frozen_holder_taken_over_moves_nothing_and_keeps_its_successor(store: Store
                                                                          ) -> None:
    model = store.unique("frozen")
    registry.ensure_registered(client(), model)
    first, second = store.tmp / "first", store.tmp / "second"
    holder = spawn(HOLD, store.client_env("holder"), args=[model, str(first), "60"])
    assert holder.stdout is not None
    assert holder.stdout.readline().startswith("held")
    os.kill(holder.pid, signal.SIGSTOP)  # frozen mid-promotion: no more heartbeats
    try:
        # a waiter judges the silence on the store's clock (stale after 2 s here) and takes over
        successor = spawn(HOLD, store.client_env("successor"), args=[model, str(second), "2"])
        assert successor.stdout is not None
        line = successor.stdout.readline()
        assert line.startswith("held"), successor.stderr.read() if successor.stderr else line
        token = line.split()[1]
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    release(first)  # the old holder wakes up: it must notice, and leave the successor's lock
    code, out, err = finish(holder)
    assert code == 0, err
    assert out.startswith("lost") and "nothing was moved" in out
    info = leases.read(client(), model + registry.LOCK_SUFFIX)
    assert info is not None and info.token == token
    release(second)
    code, out, err = finish(successor)
    assert (code, out.strip()) == (0, "still held"), err
    assert leases.read(client(), model + registry.LOCK_SUFFIX) is None


CRASH = """
import sys, time
from workbench.promotion import registry
from workbench.tracking.store import tracking_client
with registry.promotion_lock(tracking_client(), sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_unlock_clears_a_crashed_holder_and_is_recorded(store: Store) -> None:
    model = store.unique("crash")
    wb.promote(model, run_id=model_run(0.7), approver="ana", reason="v1")
    holder = spawn(CRASH, store.client_env("crash"), args=[model])
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError, match=r"held by .*:\d+, last heartbeat \d+s ago: that "
                                          r"process is alive"):
        wb.unlock(model, approver="ops", reason="looks stuck")
    holder.kill()
    holder.wait()
    name = model + registry.LOCK_SUFFIX
    wait_for(lambda: (leases.read(client(), name) or _gone()).age_s > registry.LOCK_ALIVE_S,
             timeout=60)
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "unlock", model,
                           "--approver", "ops", "--reason", "promotion host crashed"],
                          capture_output=True, text=True, env=store.person_env("ops", "ops"),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cleared the promotion lock of" in done.stdout and f":{holder.pid}" in done.stdout
    entry = wb.history(model)[-1]
    assert (entry["action"], entry["approver"], entry["reason"]) == \
        ("unlocked", "ops", "promotion host crashed")
    assert entry["holder"].endswith(f":{holder.pid}")
    started = time.monotonic()  # no waiting for the 60 s stale limit
    wb.promote(model, run_id=model_run(0.8), approver="ana", reason="v2")
    assert time.monotonic() - started < 20 and champion(model) == "2"
    assert wb.verify_history(model).ok
    with pytest.raises(ConfigError, match="has no promotion lock; nothing to unlock"):
        wb.unlock(model, approver="ops", reason="again")


def test_store_errors_on_the_lock_surface_at_once(store: Store) -> None:
    store_client = client()  # a new embedded store migrates first: not part of the wait
    started = time.monotonic()
    with pytest.raises(registry.RegistryError, match=r"cannot take the promotion lock of "
                                                     r"bad/name: .*cannot contain"), \
            registry.promotion_lock(store_client, "bad/name"):
        pass
    assert time.monotonic() - started < 5  # not the 30 s wait for a busy lock


def _gone() -> leases.LeaseInfo:
    raise AssertionError("the lock vanished before unlock")
