"""One background writer per run: the training loop appends, a thread persists in batches.

`log()` costs a dict copy and a deque append, so the loop never waits on the store. The thread
drains the queue every `interval` seconds into batches of at most 1000 points (MLflow's batch
limit). A failed write is retried and the points stay queued, so a store hiccup loses nothing;
`close()` drains whatever is left before the run is marked finished or failed. A store that
never comes back is reported with the number of points it did not get, and `unwritten()`
hands them over (the runner keeps them in a file), so no point goes missing unannounced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # MLflow's log_batch limit


@dataclass(frozen=True)
class Point:
    key: str
    value: float
    timestamp: int  # ms since epoch, taken when the loop logged it
    step: int


Sink = Callable[[list[Point]], None]


@dataclass
class WriterStats:
    logged: int = 0
    persisted: int = 0
    skipped: int = 0  # points at steps a previous attempt already persisted
    batches: int = 0
    retries: int = 0
    latest: dict[str, float] = field(default_factory=dict)
    latest_step: int = -1


class MetricWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        interval: float = 0.5,
        persisted_steps: Mapping[str, int] | None = None,
        on_flush: Callable[[WriterStats], None] | None = None,
        max_retries: int = 20,
    ) -> None:
        self._sink = sink
        self._interval = interval
        # Steps already in the store from an earlier attempt of this run: a resumed run replays
        # them and must not write them twice.
        self._persisted_steps = dict(persisted_steps or {})
        self._on_flush = on_flush
        self._max_retries = max_retries
        self._queue: deque[tuple[int, int, dict[str, float]]] = deque()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._done = threading.Condition()
        self._enqueued = 0
        self._written = 0
        self._in_flight: list[Point] = []  # drained from the queue, not yet in the store
        self.error: BaseException | None = None
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name="workbench-metric-writer",
                                        daemon=True)
        self._thread.start()

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        values = {str(k): float(v) for k, v in metrics.items()}
        self._queue.append((int(time.time() * 1000), step, values))
        self._enqueued += 1
        self.stats.logged += len(values)
        self.stats.latest.update(values)
        self.stats.latest_step = step

    def flush(self, timeout: float | None = 60.0) -> None:
        """Block until everything logged before this call is in the store."""
        target = self._enqueued
        self._wake.set()
        with self._done:
            ok = self._done.wait_for(lambda: self._written >= target or self.error is not None,
                                     timeout=timeout)
        if self.error is not None:
            raise RuntimeError(f"metric writer failed: {self.error}") from self.error
        if not ok:
            raise TimeoutError(f"metrics not persisted within {timeout}s")

    def close(self, timeout: float | None = 120.0) -> None:
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout)
        if self.error is not None:
            raise RuntimeError(f"metric writer failed: {self.error}; "
                               f"{len(self.unwritten())} metric points were not written"
                               ) from self.error
        if self._thread.is_alive():
            raise TimeoutError(f"{len(self.unwritten())} metric points not written after "
                               f"{timeout}s; the store is too slow or unreachable")

    def unwritten(self) -> list[Point]:
        """The points logged that the store has not (yet) confirmed: after a failed `close()`,
        the ones it never got (a write still retrying may land some of them later)."""
        return list(self._in_flight) + list(self._points(list(self._queue)))

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closed.is_set()
            try:
                self._drain()
            except BaseException as exc:  # surfaced by flush()/close(); keep the thread's promise
                self.error = exc
                with self._done:
                    self._done.notify_all()
                return
            if closing and not self._queue:
                return

    def _drain(self) -> None:
        entries = []
        while self._queue:
            entries.append(self._queue.popleft())
        if not entries:
            return
        points = list(self._points(entries))
        self.stats.skipped += sum(len(values) for _, _, values in entries) - len(points)
        self._in_flight = points
        for start in range(0, len(points), MAX_BATCH):
            self._write(points[start:start + MAX_BATCH])
            self._in_flight = points[start + MAX_BATCH:]
        with self._done:
            self._written += len(entries)
            self._done.notify_all()
        if self._on_flush is not None:
            try:
                self._on_flush(self.stats)
            except Exception:  # progress is best effort; metrics are what must not be lost
                log.debug("progress callback failed", exc_info=True)

    def _points(self, entries: Iterable[tuple[int, int, dict[str, float]]]) -> Iterable[Point]:
        """The points of `entries`, without steps an earlier attempt already persisted."""
        for timestamp, step, values in entries:
            for key, value in values.items():
                if step > self._persisted_steps.get(key, -1):
                    yield Point(key, value, timestamp, step)

    def _write(self, batch: list[Point]) -> None:
        delay = 0.05
        for attempt in range(self._max_retries + 1):
            try:
                self._sink(batch)
            except Exception:
                if attempt == self._max_retries:
                    raise
                self.stats.retries += 1
                log.warning("metric write failed, retrying in %.2fs", delay, exc_info=True)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                self.stats.persisted += len(batch)
                self.stats.batches += 1
                return
