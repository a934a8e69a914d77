"""The dashboard's password logins: a Panel auth provider that checks a typed login against
the tracking server (its MLflow basic auth: the same login, so the same person) or against
the users list `workbench dashboard` wrote, and serves our login page (`pages/login.html`).

A login sets Panel's signed `user` cookie, as Panel's own basic auth does, and a signed
`workbench_login` cookie with the token under which this process holds the password
(`identity.PASSWORDS`), so that decisions reach the tracking server as that person.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler, _validate_next_url
from panel.config import config
from panel.io.state import state
from tornado.escape import url_escape

from workbench_apps.identity import LOGIN_COOKIE, PASSWORDS

Check = Callable[[str, str], bool]  # (username, password) -> accepted; OSError: no answer


def tracking_server_check(username: str, password: str) -> bool:
    """Does the tracking server accept this login? (Blocking: run it in a thread.)"""
    from workbench.config import settings
    from workbench.governance.login import check_login

    return check_login(settings().tracking_uri, username, password)


def users_check(path: Path) -> Check:
    """A check against the {user: password} JSON file `workbench dashboard` wrote (0600)."""
    users: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))

    def check(username: str, password: str) -> bool:
        known = users.get(username)
        return known is not None and hmac.compare_digest(known.encode(), password.encode())

    return check


class LoginPage(BasicLoginHandler):
    """GET: our login page (Panel's handler). POST: check the login off the event loop; on
    success sign the user in and hold the password under a new token."""

    check: ClassVar[Check]

    async def post(self) -> None:
        username = self.get_argument("username", "")
        password = self.get_argument("password", "", strip=False)
        try:
            accepted = bool(username and password) and await asyncio.to_thread(
                type(self).check, username, password)
        except (OSError, ValueError) as exc:  # the server is gone: say so, not "wrong password"
            self._again(f"could not check the login ({str(exc)[:160]}); try again")
            return
        if not accepted:
            self._again("wrong username or password")
            return
        PASSWORDS.forget(self._token())  # a second login in this browser replaces the first
        self.set_current_user(username)  # Panel's signed `user` cookie
        self.set_secure_cookie(LOGIN_COOKIE, PASSWORDS.keep(username, password),
                               expires_days=config.oauth_expiry, httponly=True,
                               path=config.cookie_path)
        self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)) or "/")

    def _again(self, error: str) -> None:
        self.redirect(f"{self.request.path}?error={url_escape(error)}")

    def _token(self) -> str | None:
        token = self.get_secure_cookie(LOGIN_COOKIE, max_age_days=config.oauth_expiry)
        return token.decode() if token else None


class LogoutPage(LogoutHandler):
    """Panel's logout, which also forgets the password this browser's login held."""

    def get(self) -> None:
        token = self.get_secure_cookie(LOGIN_COOKIE, max_age_days=config.oauth_expiry)
        PASSWORDS.forget(token.decode() if token else None)
        self.clear_cookie(LOGIN_COOKIE, path=config.cookie_path or "/")
        super().get()


class PasswordLogins(BasicAuthProvider):
    """Panel's basic-auth provider (its signed `user` cookie, login and logout routes) with
    our check and pages. Its `get_user` reads only the signed cookie: the unsigned `is_guest`
    one counts only on guest endpoints, and this server has none."""

    def __init__(self, check: Check, **kwargs: Any) -> None:
        self._check = check  # before Panel's __init__, which validates the handlers
        super().__init__(**kwargs)
        PASSWORDS.checked = True

    @property
    def login_handler(self) -> type[LoginPage]:
        return type("WorkbenchLoginPage", (LoginPage,), {
            "_login_endpoint": self._login_endpoint, "_login_template": self._login_template,
            "check": staticmethod(self._check)})

    @property
    def logout_handler(self) -> type[LogoutPage]:
        return type("WorkbenchLogoutPage", (LogoutPage,), {
            "_login_endpoint": self._login_endpoint,
            "_logout_template": self._logout_template})
