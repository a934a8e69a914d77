"""Users told apart by their token, as JupyterHub tells them apart: `alice-token` is alice,
`bob-token` is bob (four-eyes needs two people). Its own module, free of pytest, so a
`jupyter lab` process started by a browser test can load it by name."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth import IdentityProvider, User

USERS = {"alice-token": "alice", "bob-token": "bob"}


class NamedTokens(IdentityProvider):
    """In a browser, `/lab?token=bob-token` signs bob in (a login cookie); Lab then sends the
    server's own token on each request, which here yields to that cookie, so two browsers are
    two people on one server (as a shared server with real logins would be)."""

    async def get_user_token(self, handler: Any) -> User | None:  # type: ignore[override]
        header = handler.request.headers.get("Authorization", "").removeprefix("token ").strip()
        if header == self.token and handler.get_cookie(self.get_cookie_name(handler)):
            return None  # the signed-in user of this browser, from the cookie
        given = header or handler.get_argument("token", "")
        name = USERS.get(given)
        if name is None:
            return await super().get_user_token(handler)  # type: ignore[misc]
        return User(username=name, name=name, display_name=name)

    def generate_anonymous_user(self, handler: Any) -> User:
        return User(username="alice", name="alice", display_name="alice")
