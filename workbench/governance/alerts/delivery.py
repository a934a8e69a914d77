"""Delivering alerts: a background lane per target, retries with backoff, signed webhooks,
e-mail, and the process-wide dispatcher; nothing here blocks or fails the action."""

from __future__ import annotations

import atexit
import functools
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench.errors import ConfigError
from workbench.governance.alerts.messages import _now, render
from workbench.governance.alerts.targets import ENV, KINDS, Target, load_targets, redact
from workbench.governance.alerts.text import one_line, plain

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger("workbench.alerts")

_BACKOFF_CAP_S = 30.0
_RETRY_AFTER_CAP_S = 60.0  # a receiver's Retry-After must not park a lane for hours
_QUEUE_MAX = 1000  # per target: a dead receiver must not grow memory without bound
_FAILURES_MAX = 1000
_EXIT_FLUSH_S = 5.0  # what a CLI process gives its alerts at exit


# ---------------------------------------------------------------------------------------------
# delivery: one attempt at a time, classified so the loop knows whether to try again


class _Try(NamedTuple):
    ok: bool
    retry: bool = False
    wait_s: float | None = None  # the receiver's Retry-After, else the loop's backoff
    error: str = ""


@dataclass(frozen=True)
class _Job:
    target: Target
    event: dict[str, Any]
    delivery: str  # the same on every attempt: a receiver drops duplicates by it


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> _Try:
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"User-Agent": "workbench-alerts", **headers})
    try:
        with _opener().open(request, timeout=timeout_s) as response:
            response.read(65536)
        return _Try(ok=True)
    except urllib.error.HTTPError as exc:
        return _http_failure(exc)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, DNS, timeouts
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return _Try(ok=False, retry=True, error=one_line(str(reason) or type(exc).__name__))


def _http_failure(exc: Any) -> _Try:
    code = int(exc.code)
    try:
        said = plain(exc.read(200).decode("utf-8", "replace"), 120)
    except Exception:  # the body is a courtesy: Slack says why there ("invalid_token")
        said = ""
    error = f"HTTP {code} {plain(exc.reason, 60)}" + (f": {said}" if said else "")
    if code == 429 or 500 <= code <= 599:
        return _Try(ok=False, retry=True, wait_s=_retry_after(exc.headers.get("Retry-After")),
                    error=error)
    return _Try(ok=False, error=error)  # 3xx (redirects are not followed) and 4xx are final


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, capped; the HTTP-date form falls back to the backoff."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    if seconds is None or seconds != seconds or seconds < 0:
        return None
    return min(seconds, _RETRY_AFTER_CAP_S)


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """urllib without redirects: a 3xx would resend the signed body elsewhere (or drop it as a
    GET), so it is a failure to fix in the configuration."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


def _mail(target: Target, delivery: str, body: bytes, headers: Mapping[str, str],
          timeout_s: float) -> _Try:
    import smtplib
    from email.message import EmailMessage
    from urllib.parse import urlsplit

    message = EmailMessage()
    message["Subject"] = headers["Subject"]
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["X-Workbench-Delivery"] = delivery
    message.set_content(body.decode())
    parts = urlsplit(target.url)
    try:
        with smtplib.SMTP(parts.hostname or "", parts.port or 25, timeout=timeout_s) as smtp:
            smtp.send_message(message)
        return _Try(ok=True)
    except smtplib.SMTPRecipientsRefused as exc:  # 4xx: try later; 5xx: never
        codes = [code for code, _ in exc.recipients.values()]
        return _Try(ok=False, retry=all(400 <= c < 500 for c in codes),
                    error=f"SMTP recipients refused ({', '.join(map(str, codes))})")
    except smtplib.SMTPResponseException as exc:
        return _Try(ok=False, retry=400 <= exc.smtp_code < 500,
                    error=f"SMTP {exc.smtp_code} {one_line(_smtp_text(exc.smtp_error), 120)}")
    except (smtplib.SMTPException, OSError) as exc:
        return _Try(ok=False, retry=True, error=one_line(exc))


def _smtp_text(said: bytes | str) -> str:
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else said


# ---------------------------------------------------------------------------------------------
# the dispatcher: one queue and one daemon thread per target


class Dispatcher:
    """Delivers events to targets from background threads: one lane per target, so a dead or
    slow receiver delays only its own alerts."""

    def __init__(self, targets: Sequence[Target], *, attempts: int = 5, backoff_s: float = 0.5,
                 timeout_s: float = 5.0, journal: Path | None = None) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        for target in targets:
            if target.kind not in KINDS:
                raise ConfigError(f"alert kind {target.kind!r} is not one of {', '.join(KINDS)}")
        self.targets = tuple(targets)
        self.attempts, self.backoff_s, self.timeout_s = attempts, backoff_s, timeout_s
        self.journal = None if journal is None else Path(journal)
        self._lanes: list[queue.Queue[_Job]] = [queue.Queue(_QUEUE_MAX) for _ in self.targets]
        self._threads: list[threading.Thread | None] = [None] * len(self.targets)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._failures: list[dict[str, Any]] = []

    def notify(self, event: Mapping[str, Any]) -> None:
        """Queue `event` for every target that wants it; returns at once, never raises."""
        try:
            self._enqueue(event)
        except Exception as exc:
            log.warning("alert not queued: %s", one_line(exc))

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued delivery ended (delivered or failed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def failures(self) -> list[dict[str, Any]]:
        """Deliveries that failed for good: kind, url (redacted), action, model, error, ..."""
        with self._lock:
            return [dict(f) for f in self._failures]

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _enqueue(self, event: Mapping[str, Any]) -> None:
        if not self.targets:
            return
        # a plain-data copy: the caller may change its dict while a lane still renders it
        snapshot = json.loads(json.dumps(dict(event), default=str))
        for index, target in enumerate(self.targets):
            if target.wants(snapshot):
                self._put(index, _Job(target, snapshot, str(uuid.uuid4())))

    def _put(self, index: int, job: _Job) -> None:
        with self._lock:
            try:
                self._lanes[index].put_nowait(job)
            except queue.Full:
                full = True
            else:
                full = False
                self._pending += 1
                self._start(index)
        if full:
            self._fail(job, 0, "the alert queue is full (the receiver is down or too slow)")

    def _start(self, index: int) -> None:  # the caller holds the lock
        running = self._threads[index]
        if running is None or not running.is_alive():  # not alive: a forked child's copy
            thread = threading.Thread(target=self._run, args=(index,), daemon=True,
                                      name=f"workbench-alerts-{index}-{self.targets[index].kind}")
            thread.start()
            self._threads[index] = thread

    def _run(self, index: int) -> None:
        lane = self._lanes[index]
        while True:
            job = lane.get()
            try:
                self._deliver(job)
            except Exception as exc:  # a bug must not end the lane and strand its queue
                self._fail(job, 0, f"internal error: {one_line(exc)}")
            finally:
                with self._idle:
                    self._pending -= 1
                    if not self._pending:
                        self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        target = job.target
        body, headers = render(job.event, target.kind)
        if target.kind == "webhook":
            headers["X-Workbench-Delivery"] = job.delivery
            if target.secret:
                digest = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
                headers["X-Workbench-Signature"] = f"sha256={digest}"
        attempt, outcome = 0, _Try(ok=False)
        for attempt in range(1, self.attempts + 1):
            outcome = (_mail(target, job.delivery, body, headers, self.timeout_s)
                       if target.kind == "email"
                       else _post(target.url, body, headers, self.timeout_s))
            if outcome.ok:
                return
            if not outcome.retry or attempt == self.attempts:
                break
            time.sleep(outcome.wait_s if outcome.wait_s is not None else self._backoff(attempt))
        self._fail(job, attempt, outcome.error)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_s * 2 ** (attempt - 1), _BACKOFF_CAP_S))

    def _fail(self, job: _Job, attempts: int, error: str) -> None:
        failure = {"kind": job.target.kind, "url": redact(job.target.url),
                   "action": plain(job.event.get("action"), 40),
                   "model": plain(job.event.get("model"), 120), "error": one_line(error),
                   "attempts": attempts, "delivery": job.delivery}
        log.warning("alert %s for %s to %s %s failed after %d attempt(s): %s",
                    failure["action"], failure["model"], failure["kind"], failure["url"],
                    attempts, failure["error"])
        with self._lock:
            self._failures.append(failure)
            del self._failures[:-_FAILURES_MAX]
        if self.journal is not None:
            self._write_journal({**failure, "at": _now(), "entry": job.event})

    def _write_journal(self, record: Mapping[str, Any]) -> None:
        """A failed alert outlives the process here, one JSON line each, to send again."""
        assert self.journal is not None
        try:
            with self._lock, self.journal.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        except OSError as exc:
            log.warning("alert journal %s not written: %s", self.journal, one_line(exc))


# ---------------------------------------------------------------------------------------------
# the process-wide dispatcher


_SHARED_LOCK = threading.Lock()
_SHARED: tuple[str, Dispatcher] | None = None


def dispatcher() -> Dispatcher:
    """The process's dispatcher, built from $WORKBENCH_ALERTS on first use (again only when
    that variable changes); with no targets it does nothing. Raises ConfigError on a bad file."""
    global _SHARED
    source = os.environ.get(ENV, "")
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED[0] != source:
            built = Dispatcher(load_targets(source))
            if built.targets:
                atexit.register(_flush_at_exit, built)
            _SHARED = (source, built)
        return _SHARED[1]


def notify(event: Mapping[str, Any]) -> None:
    """Alert the configured targets of `event`; swallows every error (an alert never breaks
    or slows the governance action that raised it)."""
    try:
        dispatcher().notify(event)
    except Exception as exc:
        log.warning("governance alert not sent: %s", one_line(exc))


def _forget_shared() -> None:
    """A forked child has none of its parent's lane threads: it builds its own dispatcher."""
    global _SHARED, _SHARED_LOCK
    _SHARED, _SHARED_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared)


def _flush_at_exit(shared: Dispatcher) -> None:
    """A CLI process ends right after its action: give its alerts a few seconds, not more."""
    if not shared.flush(_EXIT_FLUSH_S):
        log.warning("%d governance alert(s) not delivered before exit", shared.pending())
