"""Who acts in a served dashboard session, and the passwords the server holds to act as them
(no Panel here: the data stores use it too).

A person signs in with a password the dashboard checked (against the tracking server, or its
users list). A governance action reaches the tracking server with that person's own login, so
the server process keeps the password in memory only, under a random token that their signed
cookie carries: never in a cookie in clear, never on disk, never in a log. A restart forgets
them all, and each person signs in again.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

LOGIN_COOKIE = "workbench_login"  # signed; holds the token of the login held here
MAX_AGE_S = 7 * 24 * 3600  # Panel's login cookies live 7 days (its `oauth_expiry`)


@dataclass(frozen=True)
class _Held:
    user: str
    password: str = field(repr=False)
    since: float  # time.monotonic()


class Passwords:
    """The passwords of the people signed in to this server process, by login token."""

    def __init__(self) -> None:
        self.checked = False  # True once this server checks passwords itself (not OAuth)
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()  # logins on the event loop, actions in threads

    def keep(self, user: str, password: str) -> str:
        """Hold `user`'s password; returns the token their cookie carries."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._held = {t: h for t, h in self._held.items() if now - h.since < MAX_AGE_S}
            self._held[token] = _Held(user, password, now)
        return token

    def password(self, token: str | None, user: str) -> str | None:
        """The password held for this token, if it is `user`'s login."""
        with self._lock:
            held = self._held.get(token or "")
        if held is None or held.user != user or time.monotonic() - held.since >= MAX_AGE_S:
            return None
        return held.password

    def forget(self, token: str | None) -> None:
        with self._lock:
            self._held.pop(token or "", None)


PASSWORDS = Passwords()


@dataclass(frozen=True)
class SignedIn:
    """Who acts: the login the dashboard verified, and its password when the dashboard holds
    one (None: a login without one, such as OAuth's). `forgotten`: signed in with a password
    that this process no longer holds (it restarted since)."""

    user: str | None
    password: str | None = field(default=None, repr=False)  # never in a log
    forgotten: bool = False

    def refusal(self) -> str | None:
        """Why this session cannot act, in one line; None when it can."""
        if not self.user:
            return "no logged-in user: log in again, decisions are recorded with the login"
        if self.forgotten:
            return f"sign in again: the dashboard restarted and holds no login for {self.user}"
        return None

    @contextlib.contextmanager
    def acting(self) -> Iterator[None]:
        """Tracking-server calls inside the block use this person's login (a context variable:
        this thread or task only)."""
        if self.user is None or self.password is None:
            yield
            return
        from workbench.governance.login import acting_as

        with acting_as(self.user, self.password):
            yield
