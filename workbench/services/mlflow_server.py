"""The MLflow tracking server of the services: on PostgreSQL, artifacts proxied by the server
(`--serve-artifacts`), served as the `workbench` app (MLflow's basic auth, with an admin whose
password we generated, plus workbench governance: workbench.governance.server)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ADMIN = "workbench-admin"


def auth_config(path: Path, auth_db_uri: str, password: str) -> Path:
    """basic_auth.ini (mode 0600: it holds the admin's password). A team shares its
    experiments and models: every user may edit them (promote, approve, take a lease); only
    their creator and the admin may delete them or change who may."""
    text = ("[mlflow]\n"
            "default_permission = EDIT\n"
            f"database_uri = {auth_db_uri}\n"
            f"admin_username = {ADMIN}\n"
            f"admin_password = {password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # Without it every request runs PBKDF2 (~0.25 s here): a promotion's hundred
            # small calls took minutes. A changed password reaches other server workers
            # within this TTL.
            "auth_cache_ttl_seconds = 60\n")
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(text)
    return path


def command(port: int, artifacts: str, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--app-name", "workbench",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--serve-artifacts", "--artifacts-destination", artifacts]


def environment(backend_uri: str, pg_password: str, auth_ini: Path, secret_key: str,
                history_key: str, data_roots: str) -> dict[str, str]:
    """The server's environment: the store and secrets by variable, never on its command
    line (where `ps` shows them to every user). The history key lives here only: no client
    environment carries it. `data_roots`: where data gates may read files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    if os.environ.get("WORKBENCH_ALERTS"):  # the team's channels (workbench.governance.alerts)
        env["WORKBENCH_ALERTS"] = os.environ["WORKBENCH_ALERTS"]
    env.update({
        "WORKBENCH_HISTORY_KEY": history_key,
        "WORKBENCH_DATA_ROOTS": data_roots,
        "MLFLOW_BACKEND_STORE_URI": backend_uri,
        "PGPASSWORD": pg_password,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secret_key,
        # no job runner: its consumer processes serve GenAI jobs workbench never sends
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    })
    return env


def _basic_auth(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def probe(uri: str, user: str, password: str, timeout_s: float = 3.0) -> str | None:
    """None when the server is up and lets `user` in; else a one-line diagnosis."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri + "/health", timeout=timeout_s):
            pass
    except (urllib.error.URLError, OSError) as exc:
        return f"the tracking server at {uri} does not answer ({_reason(exc)})"
    request = urllib.request.Request(
        uri + "/api/2.0/mlflow/experiments/search?max_results=1",
        headers=_basic_auth(user, password))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return unauthorized(uri, exc.code)
        return f"the tracking server at {uri} answered {exc.code} to a search"
    except (urllib.error.URLError, OSError) as exc:
        return f"the tracking server at {uri} does not answer ({_reason(exc)})"


def unauthorized(uri: str, code: int = 401) -> str:
    return (f"the tracking server at {uri} answered {code}: its basic auth refused the "
            "credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (`workbench "
            "services up --json` prints them for the services)")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split())[:120]


def create_user(uri: str, admin: str, admin_password: str, user: str, password: str) -> None:
    """A login for one person (MLflow's auth API); a clear error if the name is taken."""
    import json
    import urllib.error
    import urllib.request

    from workbench.errors import ConfigError

    request = urllib.request.Request(
        uri + "/api/2.0/mlflow/users/create", method="POST",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json", **_basic_auth(admin, admin_password)})
    try:
        with urllib.request.urlopen(request, timeout=30):
            return
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        if "already exists" in body or "RESOURCE_ALREADY_EXISTS" in body:
            raise ConfigError(f"the tracking server already has a user {user!r}; pick another "
                              "name") from None
        raise ConfigError(f"the tracking server refused to create user {user!r} "
                          f"({exc.code}: {body[:160]})") from None
