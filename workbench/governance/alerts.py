"""Governance alerts: each governance event (a request waiting, an approval, a champion moved, a
rollback, a lock broken, a policy change) goes to the team's channels (signed webhook, Slack,
Teams, email) from background threads, with retries, never slowing or failing the action."""

from __future__ import annotations

import atexit
import functools
import hashlib
import hmac
import json
import logging
import os
import queue
import stat
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger("workbench.alerts")

ENV = "WORKBENCH_ALERTS"
KINDS = ("webhook", "slack", "teams", "email")
ACTIONS = ("requested", "promoted", "declined", "rollback", "unlocked", "policy", "adopted",
           "rejected")
_KEYS = ("kind", "url", "url_env", "models", "events", "secret_env", "secret_file", "to",
         "sender")
_SCHEMES = {"webhook": ("http", "https"), "slack": ("http", "https"),
            "teams": ("http", "https"), "email": ("smtp",)}

_TEXT_MAX = 300  # one value in a human line: a long reason must not flood a channel
_BACKOFF_CAP_S = 30.0
_RETRY_AFTER_CAP_S = 60.0  # a receiver's Retry-After must not park a lane for hours
_QUEUE_MAX = 1000  # per target: a dead receiver must not grow memory without bound
_FAILURES_MAX = 1000
_EXIT_FLUSH_S = 5.0  # what a CLI process gives its alerts at exit


# ---------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True, repr=False)  # repr hides the secret and the URL's token
class Target:
    kind: str  # "webhook" (generic signed JSON), "slack", "teams", "email"
    url: str = ""  # webhook/slack/teams URL; for email: "smtp://host:port"
    models: tuple[str, ...] = ("*",)  # fnmatch patterns of model names
    events: tuple[str, ...] = ("*",)  # fnmatch patterns of actions ("requested", "promoted", ...)
    secret: str = ""  # webhook: HMAC-SHA256 key for the X-Workbench-Signature header
    to: tuple[str, ...] = ()  # email recipients
    sender: str = "workbench@localhost"

    def __post_init__(self) -> None:
        for name in ("models", "events", "to"):  # a list or a lone string from a caller
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))

    def __repr__(self) -> str:
        return (f"Target(kind={self.kind!r}, url={redact(self.url)!r}, models={self.models!r}, "
                f"events={self.events!r}, signed={bool(self.secret)}, to={self.to!r})")

    def wants(self, event: Mapping[str, Any]) -> bool:
        """Does this target take `event` (its model and action match the patterns)?"""
        model, action = str(event.get("model") or ""), str(event.get("action") or "")
        return (any(fnmatchcase(model, p) for p in self.models)
                and any(fnmatchcase(action, p) for p in self.events))


def redact(url: str) -> str:
    """`scheme://host:port/...`: Slack and Teams URLs carry their token in the path, others in
    the query or the user part, so a log or a failure shows none of them."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "<unparsable url>"
    host = f"[{host}]" if ":" in host else host
    tail = "/..." if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{'' if port is None else f':{port}'}{tail}"


def load_targets(path: str | os.PathLike[str] | None = None) -> list[Target]:
    """The targets of a YAML or JSON file `{"alerts": [{kind, url, models, events, ...}]}`;
    `path` defaults to $WORKBENCH_ALERTS (unset or empty: no targets)."""
    source = os.environ.get(ENV, "") if path is None else os.fspath(path)
    if not source:
        return []
    file = Path(source).expanduser()
    data = _read_config(file)
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise ConfigError(f"the alerts file {file} has no `alerts:` list; write alerts: "
                          "[{kind: slack, url_env: NAME}, ...] (or point " + ENV + " elsewhere)")
    return [_target(file, f"{file}: alerts[{i}]", entry) for i, entry in enumerate(data["alerts"])]


def _read_config(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise ConfigError(f"cannot read the alerts file {file} ({why}); fix {ENV} or the "
                          "file") from None
    import yaml

    try:  # YAML reads JSON too; .json files get JSON's stricter parser and messages
        return json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"the alerts file {file} is not valid "
                          f"{'JSON' if file.suffix.lower() == '.json' else 'YAML'}: "
                          f"{_one_line(exc, 200)}; fix it") from None


def _target(file: Path, where: str, entry: Any) -> Target:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not a mapping; give it kind: and url: keys")
    if "secret" in entry:
        raise ConfigError(f"{where} holds a literal `secret`: a secret never goes in this file; "
                          "name an environment variable with secret_env: NAME or a mode-0600 "
                          "file with secret_file: PATH")
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(unknown)}; the keys are "
                          f"{', '.join(_KEYS)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}; fix kind:")
    events = _strings(where, entry, "events", ("*",))
    for pattern in events:  # a typo would silently drop alerts
        if not any(fnmatchcase(action, pattern) for action in ACTIONS):
            raise ConfigError(f"{where}: events entry {pattern!r} matches no action; the "
                              f"actions are {', '.join(ACTIONS)}")
    to = _strings(where, entry, "to", ())
    if (kind == "email") != bool(to):
        raise ConfigError(f"{where}: " + ("an email target needs recipients; add to: [ADDRESS]"
                                          if kind == "email" else
                                          "to: applies to email targets only; remove it"))
    sender = entry.get("sender", Target.sender)
    if not isinstance(sender, str) or not sender.strip() or _has_control(sender):
        raise ConfigError(f"{where}: sender must be one address on one line; fix sender:")
    return Target(kind=kind, url=_url(where, entry, kind),
                  models=_strings(where, entry, "models", ("*",)), events=events,
                  secret=_secret(where, file, entry, kind), to=to, sender=sender)


def _strings(where: str, entry: Mapping[str, Any], key: str,
             default: tuple[str, ...]) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return default
    items = [value] if isinstance(value, str | int | float) else value
    if not isinstance(items, list) or not all(isinstance(i, str | int | float) for i in items):
        raise ConfigError(f"{where}: {key} must be a list of names; fix {key}:")
    return tuple(str(i) for i in items)


def _url(where: str, entry: Mapping[str, Any], kind: str) -> str:
    if "url" in entry and "url_env" in entry:
        raise ConfigError(f"{where}: give url or url_env, not both")
    url: Any = entry.get("url")
    if "url_env" in entry:  # Slack and Teams URLs are secrets: their token is in the path
        url = os.environ.get(str(entry["url_env"]), "")
        if not url:
            raise ConfigError(f"{where}: url_env {entry['url_env']} is not set; export it")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where}: missing url; give url: (or url_env: NAME where the URL "
                          "carries a token, as Slack's and Teams' do)")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    schemes = _SCHEMES[kind]
    if not port_ok or parts.scheme not in schemes or not parts.hostname:
        shown = redact(url.strip())  # never echo a token
        raise ConfigError(f"{where}: url {shown} is not a {' or '.join(schemes)} URL with a "
                          f"host; fix url:" + (" (smtp://HOST:PORT)" if kind == "email" else ""))
    return url.strip()


def _secret(where: str, file: Path, entry: Mapping[str, Any], kind: str) -> str:
    given = [k for k in ("secret_env", "secret_file") if k in entry]
    if not given:
        return ""
    if len(given) == 2:
        raise ConfigError(f"{where}: give secret_env or secret_file, not both")
    if kind != "webhook":
        raise ConfigError(f"{where}: {given[0]} applies to webhook targets only (they sign "
                          "their body); remove it")
    if "secret_env" in entry:
        name = str(entry["secret_env"])
        value = os.environ.get(name, "")
        if not value:
            raise ConfigError(f"{where}: secret_env {name} is not set (or empty); export it")
        return value
    return _secret_file(where, file.parent / Path(str(entry["secret_file"])).expanduser())


def _secret_file(where: str, path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if os.name == "posix" and mode & 0o077:
            raise ConfigError(f"{where}: secret_file {path} has mode {mode:04o}, readable by "
                              f"others; chmod 600 {path}")
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise ConfigError(f"{where}: cannot read secret_file {path} ({why}); fix the "
                          "path") from None
    if not value:
        raise ConfigError(f"{where}: secret_file {path} is empty; write the key into it")
    return value


# ---------------------------------------------------------------------------------------------
# rendering: pure, one human line per event


def describe(event: Mapping[str, Any]) -> str:
    """One human line for an event, every user value flattened to plain text."""
    action = str(event.get("action") or "")
    line = _LINES.get(action, _line_other)(event)
    reason = _text(event.get("reason"))
    return f"{line}: {reason}" if reason and action != "requested" else line


def _line_requested(e: Mapping[str, Any]) -> str:
    rid = _text(e.get("request_id") or e.get("request") or f"{e.get('model')}/{e.get('seq')}")
    who = _text(e.get("requester") or e.get("authenticated") or "someone")
    ask = (f"roll back to {_v(e.get('version'))}" if e.get("kind") == "rollback"
           else f"promote run {_text(e.get('run_id'), 64)}")
    reason = _text(e.get("reason"))
    return f"{rid} waits for approval: {who} asks to {ask}" + (f" ({reason})" if reason else "")


def _line_promoted(e: Mapping[str, Any]) -> str:
    asked = _text(e.get("requester"))
    by = f"approved by {_who(e)}" + (f" (asked by {asked})" if asked and asked != _who(e)
                                     else "")
    return f"{_model(e)}: {_v(e.get('version'))} is champion (was {_v(e.get('previous'))}), {by}"


def _line_declined(e: Mapping[str, Any]) -> str:
    request = _text(e.get("request") or e.get("request_id"))
    return f"{request or _model(e) + ': a request'} declined by {_who(e)}"


def _line_rollback(e: Mapping[str, Any]) -> str:
    note = " (emergency, no second approval)" if e.get("emergency") else ""
    return (f"{_model(e)}: rolled back to {_v(e.get('version'))} (was {_v(e.get('previous'))}) "
            f"by {_who(e)}{note}")


def _line_unlocked(e: Mapping[str, Any]) -> str:
    holder = _text(e.get("holder"))
    return (f"{_model(e)}: promotion lock broken by {_who(e)}"
            + (f" (held by {holder})" if holder else ""))


def _line_rejected(e: Mapping[str, Any]) -> str:
    gates = e.get("gates")
    failed = [_text(g.get("gate"), 80) for g in gates if isinstance(g, Mapping)
              and not g.get("passed")] if isinstance(gates, list) else []
    return (f"{_model(e)}: promotion of run {_text(e.get('run_id'), 64)} refused by its gates"
            + (f" ({', '.join(failed)})" if failed else "") + f", asked by {_who(e)}")


def _line_other(e: Mapping[str, Any]) -> str:
    return f"{_model(e)}: {_text(e.get('action') or 'event', 40)} by {_who(e)}"


_LINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "requested": _line_requested, "promoted": _line_promoted, "declined": _line_declined,
    "rollback": _line_rollback, "unlocked": _line_unlocked, "rejected": _line_rejected,
    "policy": lambda e: f"{_model(e)}: governance policy changed by {_who(e)}",
    "adopted": lambda e: f"{_model(e)}: {_v(e.get('version'))} adopted as champion by {_who(e)}",
}


def _model(e: Mapping[str, Any]) -> str:
    return _text(e.get("model") or "?", 120)


def _who(e: Mapping[str, Any]) -> str:
    return _text(e.get("approver") or e.get("authenticated") or e.get("requester")
                 or "someone", 120)


def _v(version: Any) -> str:
    return f"v{_text(version, 40)}" if version not in (None, "") else "none"


def _text(value: Any, limit: int = _TEXT_MAX) -> str:
    """A user's value as plain text on one line: control and format characters (newlines,
    bidi overrides) become spaces, so a value cannot forge a second line or reorder one."""
    import unicodedata

    raw = "" if value is None else str(value)[: limit * 4]
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in raw)
    line = " ".join(flat.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _slack_escape(text: str) -> str:
    """Slack's three escapes: a value then cannot write a mention (<!channel>) or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams_escape(text: str) -> str:
    """Teams renders HTML and markdown in a card's text: entities keep a value from making a
    tag, a link ([x](url)) or emphasis."""
    table = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;", "*": "&#42;",
             "_": "&#95;", "`": "&#96;"}
    return "".join(table.get(c, c) for c in text)


def render(event: Mapping[str, Any], kind: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery of `event` to a target of `kind`."""
    line, action = describe(event), _text(event.get("action") or "event", 40)
    if kind == "webhook":
        payload: dict[str, Any] = {"event": event.get("action"), "model": event.get("model"),
                                   "entry": dict(event), "sent_at": _now()}
        token = "".join(c if c.isalnum() or c in "._-" else "-" for c in action)
        return _json(payload), {"Content-Type": "application/json", "X-Workbench-Event": token}
    if kind == "slack":
        text = _slack_escape(line)
        payload = {"text": text, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn",
                                              "text": _slack_escape(_context(event))}]}]}
        return _json(payload), {"Content-Type": "application/json"}
    if kind == "teams":
        payload = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                   "summary": _teams_escape(line), "themeColor": _colour(action),
                   "title": _teams_escape(f"Workbench: {action}"), "text": _teams_escape(line),
                   "sections": [{"markdown": False, "text": _teams_escape(_context(event))}]}
        return _json(payload), {"Content-Type": "application/json"}
    if kind == "email":
        entry = json.dumps(dict(event), indent=2, sort_keys=True, default=str)
        return (f"{line}\n\n{entry}\n".encode(),
                {"Subject": line, "Content-Type": "text/plain; charset=utf-8"})
    raise ConfigError(f"alert kind {kind!r} is not one of {', '.join(KINDS)}")


def _context(e: Mapping[str, Any]) -> str:
    parts = [f"workbench {_text(e.get('action') or 'event', 40)}", _text(e.get("at"), 40)]
    if e.get("seq") is not None:
        parts.append(f"entry {_text(e.get('seq'), 20)}")
    if e.get("authenticated"):
        parts.append(f"login {_text(e.get('authenticated'), 120)} (verified by the server)")
    return " · ".join(p for p in parts if p)


def _colour(action: str) -> str:
    return {"promoted": "2EB886", "requested": "439FE0", "rollback": "DAA038",
            "unlocked": "DAA038", "rejected": "A30200", "declined": "A30200"}.get(action,
                                                                                  "808080")


def _json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one_line(exc: BaseException | str, limit: int = 300) -> str:
    text = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return _text(text, limit)


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
        return _Try(ok=False, retry=True, error=_one_line(str(reason) or type(exc).__name__))


def _http_failure(exc: Any) -> _Try:
    code = int(exc.code)
    try:
        said = _text(exc.read(200).decode("utf-8", "replace"), 120)
    except Exception:  # the body is a courtesy: Slack says why there ("invalid_token")
        said = ""
    error = f"HTTP {code} {_text(exc.reason, 60)}" + (f": {said}" if said else "")
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
                    error=f"SMTP {exc.smtp_code} {_one_line(_smtp_text(exc.smtp_error), 120)}")
    except (smtplib.SMTPException, OSError) as exc:
        return _Try(ok=False, retry=True, error=_one_line(exc))


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
            log.warning("alert not queued: %s", _one_line(exc))

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
                self._fail(job, 0, f"internal error: {_one_line(exc)}")
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
                   "action": _text(job.event.get("action"), 40),
                   "model": _text(job.event.get("model"), 120), "error": _one_line(error),
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
            log.warning("alert journal %s not written: %s", self.journal, _one_line(exc))


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
        log.warning("governance alert not sent: %s", _one_line(exc))


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
