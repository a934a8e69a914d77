"""What an alert says: one human line per event, and the body each kind of channel takes,
every user value escaped for it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.governance.alerts.targets import KINDS
from workbench.governance.alerts.text import plain

if TYPE_CHECKING:
    pass

log = logging.getLogger("workbench.alerts")


# ---------------------------------------------------------------------------------------------
# rendering: pure, one human line per event


def describe(event: Mapping[str, Any]) -> str:
    """One human line for an event, every user value flattened to plain text."""
    action = str(event.get("action") or "")
    line = _LINES.get(action, _line_other)(event)
    reason = plain(event.get("reason"))
    return f"{line}: {reason}" if reason and action != "requested" else line


def _line_requested(e: Mapping[str, Any]) -> str:
    rid = plain(e.get("request_id") or e.get("request") or f"{e.get('model')}/{e.get('seq')}")
    who = plain(e.get("requester") or e.get("authenticated") or "someone")
    ask = (f"roll back to {_v(e.get('version'))}" if e.get("kind") == "rollback"
           else f"promote run {plain(e.get('run_id'), 64)}")
    reason = plain(e.get("reason"))
    return f"{rid} waits for approval: {who} asks to {ask}" + (f" ({reason})" if reason else "")


def _line_promoted(e: Mapping[str, Any]) -> str:
    asked = plain(e.get("requester"))
    by = f"approved by {_who(e)}" + (f" (asked by {asked})" if asked and asked != _who(e)
                                     else "")
    return f"{_model(e)}: {_v(e.get('version'))} is champion (was {_v(e.get('previous'))}), {by}"


def _line_declined(e: Mapping[str, Any]) -> str:
    request = plain(e.get("request") or e.get("request_id"))
    return f"{request or _model(e) + ': a request'} declined by {_who(e)}"


def _line_rollback(e: Mapping[str, Any]) -> str:
    note = " (emergency, no second approval)" if e.get("emergency") else ""
    return (f"{_model(e)}: rolled back to {_v(e.get('version'))} (was {_v(e.get('previous'))}) "
            f"by {_who(e)}{note}")


def _line_unlocked(e: Mapping[str, Any]) -> str:
    holder = plain(e.get("holder"))
    return (f"{_model(e)}: promotion lock broken by {_who(e)}"
            + (f" (held by {holder})" if holder else ""))


def _line_rejected(e: Mapping[str, Any]) -> str:
    gates = e.get("gates")
    failed = [plain(g.get("gate"), 80) for g in gates if isinstance(g, Mapping)
              and not g.get("passed")] if isinstance(gates, list) else []
    return (f"{_model(e)}: promotion of run {plain(e.get('run_id'), 64)} refused by its gates"
            + (f" ({', '.join(failed)})" if failed else "") + f", asked by {_who(e)}")


def _line_other(e: Mapping[str, Any]) -> str:
    return f"{_model(e)}: {plain(e.get('action') or 'event', 40)} by {_who(e)}"


_LINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "requested": _line_requested, "promoted": _line_promoted, "declined": _line_declined,
    "rollback": _line_rollback, "unlocked": _line_unlocked, "rejected": _line_rejected,
    "policy": lambda e: f"{_model(e)}: governance policy changed by {_who(e)}",
    "adopted": lambda e: f"{_model(e)}: {_v(e.get('version'))} adopted as champion by {_who(e)}",
    "monitor": lambda e: (f"{_model(e)} {_v(e.get('version'))}: monitoring fired "
                          f"({plain(', '.join(map(str, e.get('fired') or [])), 120)})"),
}


def _model(e: Mapping[str, Any]) -> str:
    return plain(e.get("model") or "?", 120)


def _who(e: Mapping[str, Any]) -> str:
    return plain(e.get("approver") or e.get("authenticated") or e.get("requester")
                 or "someone", 120)


def _v(version: Any) -> str:
    return f"v{plain(version, 40)}" if version not in (None, "") else "none"


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
    line, action = describe(event), plain(event.get("action") or "event", 40)
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
    parts = [f"workbench {plain(e.get('action') or 'event', 40)}", plain(e.get("at"), 40)]
    if e.get("seq") is not None:
        parts.append(f"entry {plain(e.get('seq'), 20)}")
    if e.get("authenticated"):
        parts.append(f"login {plain(e.get('authenticated'), 120)} (verified by the server)")
    return " · ".join(p for p in parts if p)


def _colour(action: str) -> str:
    return {"promoted": "2EB886", "requested": "439FE0", "rollback": "DAA038",
            "unlocked": "DAA038", "rejected": "A30200", "declined": "A30200"}.get(action,
                                                                                  "808080")


def _json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


