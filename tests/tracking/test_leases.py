"""Leases hold across processes on both stores: one holder at a time, stale holders taken over
once, a late release never deletes its successor, other store errors surface at once."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.stores import GATE_WAIT, Store, finish, release, spawn
from workbench.tracking import leases

HOLD = GATE_WAIT + """
import json, os, time
from workbench.tracking import leases
from workbench.tracking.store import tracking_client
client = tracking_client()
name, log, hold_s = sys.argv[2], sys.argv[3], float(sys.argv[4])
with leases.acquire(client, name, kind="lock", wait_s=120, stale_s=30, heartbeat_s=1):
    start = time.time()
    time.sleep(hold_s)
    with open(log, "a") as out:
        out.write(json.dumps([os.getpid(), start, time.time()]) + "\\n")
"""


def test_one_holder_at_a_time_across_processes(store: Store) -> None:
    name, gate, log = store.unique("lease"), store.tmp / "go", store.tmp / "held.jsonl"
    procs = [spawn(HOLD, store.client_env(f"p{i}"), args=[str(gate), name, str(log), "0.5"])
             for i in range(3)]
    time.sleep(3)  # let them import and sit at the gate
    release(gate)
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0, err
    spans = sorted(json.loads(line)[1:] for line in log.read_text().splitlines())
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two holders overlapped: {spans}"
    assert leases.read(_client(), name) is None  # released


CRASHED = """
import sys, time
from workbench.tracking import leases
from workbench.tracking.store import tracking_client
lease = leases.claim(tracking_client(), sys.argv[1], kind="lock")
print(lease.token, flush=True)
time.sleep(600)
"""


def test_stale_holder_taken_over_once_and_its_late_release_deletes_nothing(store: Store
                                                                            ) -> None:
    name = store.unique("lease")
    holder = spawn(CRASHED, store.client_env("holder"), args=[name])
    assert holder.stdout is not None
    stale_token = holder.stdout.readline().strip()
    os.kill(holder.pid, signal.SIGSTOP)  # frozen, not dead: it will wake up later
    try:
        client = _client()
        wait_for(lambda: (leases.read(client, name) or _never()).age_s > 2, timeout=30)
        racers = [spawn(TAKE_OVER, store.client_env(f"t{i}"),
                        args=[str(store.tmp / "go"), name, stale_token]) for i in range(2)]
        time.sleep(3)
        release(store.tmp / "go")
        results = [finish(p) for p in racers]
        assert all(code == 0 for code, _, _ in results), results
        winners = [out.strip() for _, out, _ in results if out.strip() != "lost"]
        assert len(winners) == 1, results  # exactly one process took the stale holder over
        info = leases.read(client, name)
        assert info is not None and info.token == winners[0]
        # the frozen holder wakes up and releases: the successor's lease must survive
        stale = leases.Lease(client, name, stale_token)
        assert stale.release() is False and stale.lost
        assert not stale.beat()
        info = leases.read(client, name)
        assert info is not None and info.token == winners[0]
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()


TAKE_OVER = GATE_WAIT + """
from workbench.tracking import leases
from workbench.tracking.store import tracking_client
lease = leases.take_over(tracking_client(), sys.argv[2], stale_token=sys.argv[3])
print(lease.token if lease else "lost")
"""


def test_a_live_holder_is_waited_for_then_reported(store: Store) -> None:
    client, name = _client(), store.unique("lease")
    with leases.acquire(client, name, kind="lock", wait_s=5, stale_s=30, heartbeat_s=0.5):
        started = time.monotonic()
        with pytest.raises(leases.LeaseBusy, match=r"held by .*:\d+, last heartbeat \d+s ago"), \
                leases.acquire(client, name, kind="lock", wait_s=2, stale_s=30, heartbeat_s=1):
            pass
        assert 2 <= time.monotonic() - started < 10
    assert leases.read(client, name) is None


def test_store_errors_other_than_taken_surface_at_once(store: Store) -> None:
    client = _client()  # a new store is created first, outside the timed part
    started = time.monotonic()
    with pytest.raises(Exception, match="cannot contain"), \
            leases.acquire(client, "bad/name", kind="lock", wait_s=30, stale_s=30,
                           heartbeat_s=1):
        pass
    assert time.monotonic() - started < 5


def test_leases_are_hidden_by_their_tag(store: Store, tmp_path: Path) -> None:
    client, name = _client(), store.unique("lease")
    lease = leases.claim(client, name, kind="lock")
    assert lease is not None
    assert leases.claim(client, name, kind="lock") is None  # taken
    assert leases.is_internal(client.get_registered_model(name).tags)
    assert lease.release()


def _client():  # type: ignore[no-untyped-def]
    from workbench.tracking.store import tracking_client

    return tracking_client()


def _never() -> leases.LeaseInfo:
    raise AssertionError("lease vanished")
