"""`workbench dashboard`: the Panel apps (`apps/`, installed as `workbench_apps`) under
`panel serve`, on 127.0.0.1, behind a login, optionally with the pipeline scheduler beside them
for as long as they run.

No password or secret goes on a command line (`ps` shows every process's to every local user):
logins come from the tracking server, a 0600 users file or the environment, and the cookie
secret from the environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ConfigError
from workbench.project import python_path
from workbench.service import serve

# served at /<name>; `index` also at /
APPS = ("index", "cockpit", "runs", "training", "drift", "promotion")

# A page reads the store every few seconds: when a tracking server is gone it should say so
# within seconds (MLflow's default retries a request for ~2 minutes), and recover on its own.
# MLflow reads the backoff factor as an int: "0.5" made every request to a server fail.
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}

USERS_ENV = "WORKBENCH_DASHBOARD_USERS"  # "user:password,user2:password2"
COOKIE_SECRET_ENVS = ("WORKBENCH_COOKIE_SECRET", "PANEL_COOKIE_SECRET")


@dataclass(frozen=True)
class Logins:
    """Who checks the dashboard's logins: `oauth` (a Panel OAuth provider), `tracking-server`
    (its MLflow basic auth: the same login, so the same person) or `users` (these)."""

    kind: str
    users: dict[str, str] = field(default_factory=dict)
    source: str = ""  # where `users` came from, as said at start


def dashboard(root: Path, *, port: int = 5006, address: str = "127.0.0.1",
              users_file: Path | None = None, oauth_provider: str | None = None,
              with_scheduler: bool = False, say: Callable[[str], None] = print) -> int:
    """Serve the dashboards until stopped; returns panel's exit code.

    Every route needs a login (four-eyes compares logins), checked by the first that applies:
    `oauth_provider` (one of Panel's, its client id and secret in PANEL_OAUTH_KEY and
    PANEL_OAUTH_SECRET); the tracking server, when it is an MLflow server with basic auth
    (people sign in with their tracking-server login and the dashboard acts with it);
    `users_file` or WORKBENCH_DASHBOARD_USERS; else the user `workbench` with a generated
    password, printed once, as Jupyter prints its token.
    """
    folder = _installed_apps()
    logins = choose_logins(users_file, oauth_provider)
    with tempfile.TemporaryDirectory(prefix="wb-dashboard-") as scratch:
        # `panel serve` with our 404 page and login (workbench_apps.serve)
        command = [sys.executable, "-m", "workbench_apps.serve",
                   *(str(folder / name) for name in APPS),  # directory apps: their main.py
                   "--address", address, "--port", str(port),
                   "--allow-websocket-origin", f"{address}:{port}", "--index", "index",
                   "--logout-template", str(folder / "pages" / "logout.html"),
                   *_login_args(logins, oauth_provider, Path(scratch))]
        _say_logins(logins, f"http://{address}:{port}/", say)
        # JS and CSS from this server, not a CDN: works offline, tells no third party
        return serve(command, root, with_scheduler=with_scheduler, say=say,
                     env={"BOKEH_RESOURCES": "server", "PYTHONPATH": python_path(root),
                          "PANEL_COOKIE_SECRET": cookie_secret(),
                          **{k: v for k, v in FAIL_FAST.items() if k not in os.environ}})


def choose_logins(users_file: Path | None, oauth_provider: str | None,
                  env: Mapping[str, str] = os.environ) -> Logins:
    """Who checks logins (see `dashboard`); one-line errors for a combination that would
    leave two kinds of login side by side."""
    listed = env.get(USERS_ENV, "")
    if users_file is not None and listed:
        raise ConfigError(f"give --users-file or {USERS_ENV}, not both")
    if oauth_provider:
        if users_file is not None or listed:
            raise ConfigError("give --oauth-provider or a users list (--users-file, "
                              f"{USERS_ENV}), not both: one login for everyone, so four-eyes "
                              "compares like with like")
        if not env.get("PANEL_OAUTH_KEY"):
            raise ConfigError(f"--oauth-provider {oauth_provider} needs the OAuth app's client "
                              "id and secret in PANEL_OAUTH_KEY and PANEL_OAUTH_SECRET")
        return Logins("oauth")
    from workbench.config import settings

    uri = settings().tracking_uri
    if server_checks_logins(uri):
        if users_file is not None or listed:
            raise ConfigError(f"the tracking server at {_shown(uri)} checks logins itself: "
                              f"drop --users-file and {USERS_ENV}; people sign in with their "
                              "tracking-server login")
        return Logins("tracking-server", source=_shown(uri))
    if users_file is not None:
        return Logins("users", read_users_file(users_file), f"--users-file {users_file}")
    if listed:
        return Logins("users", parse_users(listed.split(","), USERS_ENV), USERS_ENV)
    return Logins("users", {"workbench": secrets.token_urlsafe(12)}, "generated")


def server_checks_logins(uri: str, timeout_s: float = 10.0) -> bool:
    """Is `uri` an MLflow server that asks for a login? (Its basic auth answers 401 to a
    request without one.) A server that does not answer is a one-line error: the dashboard
    cannot tell who may log in."""
    if not uri.startswith(("http://", "https://")):
        return False
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/api/2.0/mlflow/experiments/search"
                                    "?max_results=1", timeout=timeout_s):
            return False
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return True
        raise ConfigError(f"the tracking server at {_shown(uri)} answered {exc.code} to a "
                          "search; is MLFLOW_TRACKING_URI an MLflow server?") from None
    except OSError as exc:
        reason = " ".join(str(getattr(exc, "reason", exc)).split())[:120]
        raise ConfigError(f"the tracking server at {_shown(uri)} does not answer ({reason}); "
                          "the dashboard asks it who may log in: start it, or point "
                          "MLFLOW_TRACKING_URI at the store you mean") from None


def read_users_file(path: Path) -> dict[str, str]:
    """{user: password} from a file only its owner may read: a JSON object, or `user:password`
    lines (blank lines and `#` comments skipped)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        raise ConfigError(f"--users-file {path}: no such file") from None
    if mode & 0o077:
        raise ConfigError(f"{path} holds passwords and others may read it (mode {mode:04o}): "
                          f"chmod 600 {path}")
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("{"):
        lines = (line.strip() for line in text.splitlines())
        return parse_users([line for line in lines if line and not line.startswith("#")],
                           str(path))
    try:
        found = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON ({exc.msg}, line {exc.lineno}): write "
                          '{"user": "password"} or user:password lines') from None
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              and k and v for k, v in found.items()):
        raise ConfigError(f'{path} must map each user to a password: {{"ana": "s3cret"}}')
    return found


def parse_users(entries: Iterable[str], source: str) -> dict[str, str]:
    """{user: password} from `user:password` entries. An error never repeats an entry: it
    holds a password."""
    users: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        user, sep, password = entry.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{source}: entry {number} is not user:password (e.g. "
                              "ana:s3cret)")
        if user.strip() in users:
            raise ConfigError(f"{source} names {user.strip()!r} twice; give each person once")
        users[user.strip()] = password
    if not users:
        raise ConfigError(f"{source} names nobody; give user:password entries")
    return users


def cookie_secret(env: Mapping[str, str] = os.environ) -> str:
    """The secret that signs login cookies: from the environment (set it to keep logins
    across restarts), else new."""
    return next((env[name] for name in COOKIE_SECRET_ENVS if env.get(name)),
                secrets.token_urlsafe(32))


def _login_args(logins: Logins, oauth_provider: str | None, scratch: Path) -> list[str]:
    """`workbench_apps.serve`'s arguments for `logins`: names and paths, never a password."""
    if logins.kind == "oauth":
        return ["--oauth-provider", str(oauth_provider)]
    if logins.kind == "tracking-server":
        return ["--tracking-server-logins"]
    users = scratch / "users.json"
    users.touch(mode=0o600)
    users.write_text(json.dumps(logins.users))
    return ["--users-file", str(users)]


def _say_logins(logins: Logins, url: str, say: Callable[[str], None]) -> None:
    if logins.kind == "tracking-server":
        say(f"dashboard: {url}  log in with your login to the tracking server {logins.source}")
        if not os.environ.get("MLFLOW_TRACKING_USERNAME"):
            say("dashboard: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for "
                "this process: its pages read the tracking server with them (decisions use "
                "each person's own login)")
    elif logins.source == "generated":
        [(user, password)] = logins.users.items()
        say(f"dashboard: {url}  user {user}  password {password}")
    elif logins.kind == "users":
        say(f"dashboard: {url}  {len(logins.users)} login(s) from {logins.source}")


def _shown(uri: str) -> str:
    from workbench.tracking.store import display_uri

    return display_uri(uri)


def _installed_apps() -> Path:
    if importlib.util.find_spec("panel") is None:
        raise ConfigError("Panel is not installed: pip install 'workbench[dashboard]'")
    folder = apps_dir()
    missing = [str(folder / name) for name in APPS if not (folder / name / "main.py").is_file()]
    if missing:
        raise ConfigError(f"dashboard apps not found ({', '.join(missing)}); reinstall "
                          "workbench (`pip install .`), which ships them as workbench_apps")
    return folder


def apps_dir() -> Path:
    """Where the installed apps are (found without importing them: they import panel)."""
    spec = importlib.util.find_spec("workbench_apps")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the dashboard apps (workbench_apps) are not installed; reinstall "
                          "workbench with `pip install .`")
    return Path(next(iter(spec.submodule_search_locations)))
