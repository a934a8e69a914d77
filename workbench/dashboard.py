"""`workbench dashboard`: the Panel apps (`apps/`, installed as `workbench_apps`) under
`panel serve`, on 127.0.0.1, behind a
login, optionally with the pipeline scheduler beside them for as long as they run."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from workbench.errors import ConfigError
from workbench.project import python_path
from workbench.service import serve

# served at /<name>; `index` also at /
APPS = ("index", "cockpit", "runs", "training", "drift", "promotion")

# A page reads the store every few seconds: when a tracking server is gone it should say so
# within seconds (MLflow's default retries a request for ~2 minutes), and recover on its own.
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.5",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def dashboard(root: Path, *, port: int = 5006, address: str = "127.0.0.1",
              basic_auth: str | Sequence[str] | None = None, cookie_secret: str | None = None,
              oauth_provider: str | None = None, with_scheduler: bool = False,
              say: Callable[[str], None] = print) -> int:
    """Serve the dashboards until stopped; returns panel's exit code.

    Every route needs a login: `basic_auth` is `USER:PASSWORD`, or several (one per person:
    four-eyes compares logins); without it a password is generated for the user `workbench`
    and printed, as Jupyter prints its token. `oauth_provider` logs people in with one of
    Panel's OAuth providers instead (its client id and secret in PANEL_OAUTH_KEY and
    PANEL_OAUTH_SECRET, never on a command line).
    """
    if importlib.util.find_spec("panel") is None:
        raise ConfigError("Panel is not installed: pip install 'workbench[dashboard]'")
    folder = apps_dir()
    scripts = [folder / name for name in APPS]  # directory apps: /<name> runs its main.py
    missing = [str(s) for s in scripts if not (s / "main.py").is_file()]
    if missing:
        raise ConfigError(f"dashboard apps not found ({', '.join(missing)}); reinstall "
                          "workbench (`pip install .`), which ships them as workbench_apps")
    if oauth_provider and basic_auth:
        raise ConfigError("give --oauth-provider or --basic-auth, not both: one login for "
                          "everyone, so four-eyes compares like with like")
    if oauth_provider and not os.environ.get("PANEL_OAUTH_KEY"):
        raise ConfigError(f"--oauth-provider {oauth_provider} needs the OAuth app's client id "
                          "and secret in PANEL_OAUTH_KEY and PANEL_OAUTH_SECRET")
    users = {} if oauth_provider else _credentials(basic_auth)
    with tempfile.TemporaryDirectory(prefix="wb-dashboard-") as scratch:
        # `panel serve` with our page for unknown routes (workbench_apps.serve)
        command = [sys.executable, "-m", "workbench_apps.serve", *map(str, scripts),
                   "--address", address, "--port", str(port),
                   "--allow-websocket-origin", f"{address}:{port}", "--index", "index",
                   "--logout-template", str(folder / "pages" / "logout.html")]
        if oauth_provider:
            command += ["--oauth-provider", oauth_provider]
        else:
            credentials = Path(scratch) / "users.json"
            credentials.write_text(json.dumps(users))
            credentials.chmod(0o600)
            # our login page: Panel's loads its logo from a CDN (broken offline)
            command += ["--basic-auth", str(credentials),
                        "--basic-login-template", str(folder / "pages" / "login.html")]
        if not basic_auth and not oauth_provider:
            [(user, password)] = users.items()
            say(f"dashboard: http://{address}:{port}/  user {user}  password {password}")
        # JS and CSS from this server, not a CDN: works offline, tells no third party
        # the cookie secret goes in the environment: any local user can read a command line
        return serve(command, root, with_scheduler=with_scheduler, say=say,
                     env={"BOKEH_RESOURCES": "server", "PYTHONPATH": python_path(root),
                          "PANEL_COOKIE_SECRET": cookie_secret or secrets.token_urlsafe(32),
                          **{k: v for k, v in FAIL_FAST.items() if k not in os.environ}})



def apps_dir() -> Path:
    """Where the installed apps are (found without importing them: they import panel)."""
    spec = importlib.util.find_spec("workbench_apps")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the dashboard apps (workbench_apps) are not installed; reinstall "
                          "workbench with `pip install .`")
    return Path(next(iter(spec.submodule_search_locations)))


def _credentials(basic_auth: str | Sequence[str] | None) -> dict[str, str]:
    """{user: password}: each USER:PASSWORD given, else `workbench` with a new password."""
    if not basic_auth:
        return {"workbench": secrets.token_urlsafe(12)}
    users: dict[str, str] = {}
    for pair in [basic_auth] if isinstance(basic_auth, str) else basic_auth:
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            raise ConfigError("--basic-auth takes USER:PASSWORD, e.g. --basic-auth ana:s3cret "
                              "(repeat it for more people)")
        if user in users:
            raise ConfigError(f"--basic-auth names {user!r} twice; give each person once")
        users[user] = password
    return users
