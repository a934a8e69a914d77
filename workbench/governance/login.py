"""Which tracking-server login a call acts with.

A process acts with MLflow's own variables (MLFLOW_TRACKING_USERNAME / _PASSWORD). A server
that acts for several people (a dashboard) names the signed-in person's login for the calls
made inside `acting_as(...)`: a context variable, so it holds for this thread or task only and
never leaks into another request. Nothing here trusts a name: the tracking server checks the
password, and governance records the login the server verified.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Login:
    username: str
    password: str

    def header(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


_ACTING: contextvars.ContextVar[Login | None] = contextvars.ContextVar("workbench_login",
                                                                      default=None)


@contextlib.contextmanager
def acting_as(username: str, password: str) -> Iterator[Login]:
    """Calls to the tracking server's governance endpoints inside the block use this login."""
    token = _ACTING.set(Login(username, password))
    try:
        yield Login(username, password)
    finally:
        _ACTING.reset(token)


def current_login() -> Login | None:
    """The login of `acting_as`, else MLflow's variables, else None (no credentials)."""
    acting = _ACTING.get()
    if acting is not None:
        return acting
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "")
    if not user:
        return None
    return Login(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))


def check_login(tracking_uri: str, username: str, password: str,
                timeout_s: float = 10.0) -> bool:
    """Does the tracking server at `tracking_uri` accept this username and password? (MLflow's
    basic auth: `GET /api/2.0/mlflow/users/current` answers 200 for a valid login.) Raises
    OSError when the server does not answer."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        tracking_uri.rstrip("/") + "/api/2.0/mlflow/users/current",
        headers=Login(username, password).header())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            found = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return False
        raise OSError(f"the tracking server answered {exc.code} to a login check") from None
    name = found.get("username") or (found.get("user") or {}).get("username")
    return name is None or str(name) == username
