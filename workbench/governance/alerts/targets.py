"""Alert targets: where governance events go, read from $WORKBENCH_ALERTS (secrets from the
environment or a private file, never the file itself)."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError
from workbench.governance.alerts.text import has_control, one_line

if TYPE_CHECKING:
    pass

log = logging.getLogger("workbench.alerts")

ENV = "WORKBENCH_ALERTS"
KINDS = ("webhook", "slack", "teams", "email")
ACTIONS = ("requested", "promoted", "declined", "rollback", "unlocked", "policy", "adopted",
           "rejected", "monitor")
_KEYS = ("kind", "url", "url_env", "models", "events", "secret_env", "secret_file", "to",
         "sender")
_SCHEMES = {"webhook": ("http", "https"), "slack": ("http", "https"),
            "teams": ("http", "https"), "email": ("smtp",)}


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
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise ConfigError(f"cannot read the alerts file {file} ({why}); fix {ENV} or the "
                          "file") from None
    import yaml

    try:  # YAML reads JSON too; .json files get JSON's stricter parser and messages
        return json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"the alerts file {file} is not valid "
                          f"{'JSON' if file.suffix.lower() == '.json' else 'YAML'}: "
                          f"{one_line(exc, 200)}; fix it") from None


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
    if not isinstance(sender, str) or not sender.strip() or has_control(sender):
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
