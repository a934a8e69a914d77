"""Leases in the tracking store: claims every process and host sharing the store agrees on.

MLflow's API offers one atomic step on every store (SQLite, PostgreSQL, a tracking server):
creating a registered model whose name is taken fails with RESOURCE_ALREADY_EXISTS. A lease is
such a registered model, tagged `workbench.kind` so model listings hide it, whose tags name the
holder's random token. Its holder heart-beats by updating its description, which makes the
*store* stamp `last_updated_timestamp`; a lease's age is judged against a stamp the store makes
now, so no host's clock is trusted.

A stale lease is taken over in place, and a lease is released, only by the process that first
creates `NAME.break-TOKEN`: two waiters never both take over one holder, and a late release
never deletes the lease of the holder that replaced it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from workbench.errors import WorkbenchError
from workbench.tracking.store import registry_writes

if TYPE_CHECKING:
    from mlflow import MlflowClient

KIND_TAG = "workbench.kind"
TOKEN_TAG = "workbench.lease.token"
CLOCK = "workbench.clock"  # a registered model the store stamps to tell its own time
BREAK = ".break-"
T = TypeVar("T")


class LeaseBusy(WorkbenchError):
    """The lease is held by someone alive (its heartbeat is fresh)."""


def is_internal(tags: Mapping[str, str]) -> bool:
    """True for workbench's own registered models (leases, markers, the clock)."""
    return KIND_TAG in tags


@dataclass
class LeaseInfo:
    name: str
    token: str
    tags: dict[str, str]
    age_s: float  # since the last heartbeat, on the store's clock

    @property
    def holder(self) -> str:
        return self.tags.get("workbench.lease.holder", "unknown")


@dataclass
class Lease:
    """A lease this process holds."""

    client: MlflowClient
    name: str
    token: str
    lost: bool = False  # someone took it over: stop acting on it
    _beats: int = field(default=0, repr=False)

    def beat(self) -> bool:
        """Refresh the heartbeat if the lease is still ours; False once it was taken over."""
        info = read(self.client, self.name)
        if info is None or info.token != self.token:
            self.lost = True
            return False
        self._beats += 1
        registry_writes(self.client).update_registered_model(
            self.name, description=f"heartbeat {self._beats}")
        return True

    def still_ours(self) -> bool:
        """One read: is the lease still ours (not taken over)? Cheaper than `beat` before a
        move that must not happen once a waiter took the lease over."""
        if not self.lost:
            self.lost = _token(self.client, self.name) != self.token
        return not self.lost

    def set_tags(self, tags: Mapping[str, str]) -> None:
        writes = registry_writes(self.client)
        for key, value in tags.items():
            writes.set_registered_model_tag(self.name, key, value)

    @contextlib.contextmanager
    def heartbeat(self, interval_s: float) -> Iterator[Lease]:
        """Beat every `interval_s` in a daemon thread while the block runs."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                with contextlib.suppress(Exception):  # a store hiccup: the next beat retries
                    if not self.beat():
                        return

        thread = threading.Thread(target=loop, name=f"heartbeat {self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=interval_s + 5)

    def release(self) -> bool:
        """Delete the lease if it is still ours; False if someone took it over."""
        return bool(_with_marker(self.client, self.name, self.token, self._delete_if_ours))

    def _delete_if_ours(self) -> bool:
        if _token(self.client, self.name) != self.token:  # no age needed: skip the clock
            self.lost = True
            return False
        registry_writes(self.client).delete_registered_model(self.name)
        return True


def store_now_ms(client: MlflowClient) -> int:
    """The store's current time, read from a stamp it makes now."""
    try:
        stamped = registry_writes(client).update_registered_model(CLOCK, description="clock")
    except Exception as exc:
        if not _missing(exc):
            raise
        _create(client, CLOCK, {KIND_TAG: "clock"})
        stamped = registry_writes(client).update_registered_model(CLOCK, description="clock")
    return int(stamped.last_updated_timestamp)


def read(client: MlflowClient, name: str) -> LeaseInfo | None:
    try:
        model = client.get_registered_model(name)
    except Exception as exc:
        if _missing(exc):
            return None
        raise
    tags = dict(model.tags)
    age = (store_now_ms(client) - int(model.last_updated_timestamp or 0)) / 1000
    return LeaseInfo(name, tags.get(TOKEN_TAG, ""), tags, max(0.0, age))


def claim(client: MlflowClient, name: str, *, kind: str,
          meta: Mapping[str, str] | None = None) -> Lease | None:
    """Create lease `name`, or None when it exists. Other store errors surface at once."""
    token = secrets.token_hex(16)
    tags = {KIND_TAG: kind, TOKEN_TAG: token, "workbench.lease.holder": _holder(),
            **(meta or {})}
    if not _create(client, name, tags) and _token(client, name) != token:
        return None  # (our token there: a REST client retried a create that had gone through)
    return Lease(client, name, token)


def take_over(client: MlflowClient, name: str, *, stale_token: str,
              meta: Mapping[str, str] | None = None) -> Lease | None:
    """Replace the holder `stale_token` of lease `name` with us; None if another process
    took it over (or it was released) first."""
    token = secrets.token_hex(16)

    def swap() -> Lease | None:
        info = read(client, name)
        if info is None or info.token != stale_token:
            return None
        tags = {TOKEN_TAG: token, "workbench.lease.holder": _holder(),
                "workbench.lease.took_over": stale_token, **(meta or {})}
        writes = registry_writes(client)
        for key, value in tags.items():
            writes.set_registered_model_tag(name, key, value)
        lease = Lease(client, name, token)
        lease.beat()
        return lease

    return _with_marker(client, name, stale_token, swap)


@contextlib.contextmanager
def acquire(client: MlflowClient, name: str, *, kind: str, wait_s: float, stale_s: float,
            heartbeat_s: float, meta: Mapping[str, str] | None = None,
            poll_s: float = 0.2) -> Iterator[Lease]:
    """Hold lease `name` while the block runs: wait for a live holder up to `wait_s`, take
    over one whose heartbeat is older than `stale_s`, beat every `heartbeat_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        lease = claim(client, name, kind=kind, meta=meta)
        if lease is not None:
            break
        info = read(client, name)
        if info is not None and info.age_s > stale_s:
            lease = take_over(client, name, stale_token=info.token, meta=meta)
            if lease is not None:
                break
        if time.monotonic() > deadline:
            who = f"{info.holder}, last heartbeat {info.age_s:.0f}s ago" if info else "?"
            raise LeaseBusy(f"{name} is held by {who}")
        time.sleep(poll_s)
    try:
        with lease.heartbeat(heartbeat_s):
            yield lease
    finally:
        with contextlib.suppress(Exception):  # taken over meanwhile: not ours to delete
            lease.release()


HEARTBEAT_S = 10.0  # WORKBENCH_HEARTBEAT_S: how often a holder refreshes its lease
STALE_S = 60.0  # WORKBENCH_STALE_S: a lease this long without a heartbeat is taken over


def timing(heartbeat_s: float | None = None, stale_s: float | None = None
           ) -> tuple[float, float]:
    """(heartbeat, stale threshold) in seconds: the arguments, else the environment, else the
    defaults; a stale threshold not above the heartbeat would take live holders over."""
    from workbench.config import seconds_from_env
    from workbench.errors import ConfigError

    beat = heartbeat_s or seconds_from_env("WORKBENCH_HEARTBEAT_S", HEARTBEAT_S)
    stale = stale_s or seconds_from_env("WORKBENCH_STALE_S", STALE_S)
    if stale <= beat:
        raise ConfigError(f"the stale threshold ({stale:g}s) must exceed the heartbeat "
                          f"interval ({beat:g}s), or live holders are taken over")
    return beat, stale


def force_release(client: MlflowClient, name: str) -> LeaseInfo | None:
    """Delete lease `name` whoever holds it (an operator clearing a crashed holder)."""
    info = read(client, name)
    if info is None:
        return None
    with contextlib.suppress(Exception):
        registry_writes(client).delete_registered_model(name)
    return info


def _token(client: MlflowClient, name: str) -> str | None:
    """The holder token of lease `name` (None: no lease)."""
    try:
        return str(client.get_registered_model(name).tags.get(TOKEN_TAG, ""))
    except Exception as exc:
        if _missing(exc):
            return None
        raise


def _with_marker(client: MlflowClient, name: str, token: str, action: Callable[[], T]
                 ) -> T | None:
    """`action()` while holding the marker for `token`'s generation; None if another process
    holds it (it is taking over or releasing that holder right now)."""
    marker = f"{name}{BREAK}{token[:16]}"
    if not _create(client, marker, {KIND_TAG: "marker"}):
        return None
    try:
        return action()
    finally:
        with contextlib.suppress(Exception):
            registry_writes(client).delete_registered_model(marker)


def _create(client: MlflowClient, name: str, tags: Mapping[str, str]) -> bool:
    """True if we created `name`; False if it existed. MLflow's SQL store answers a taken name
    by reading the holder back, and says RESOURCE_DOES_NOT_EXIST when that holder was deleted
    in between (a lease released right then): the name was taken all the same."""
    try:
        client.create_registered_model(name, tags=dict(tags))
        return True
    except Exception as exc:
        if getattr(exc, "error_code", None) in ("RESOURCE_ALREADY_EXISTS",
                                                "RESOURCE_DOES_NOT_EXIST"):
            return False
        raise


def _missing(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _holder() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


holder = _holder  # this process as lease holders are named (host:pid), for records beside them
