"""`panel serve` with our page for unknown routes and our password logins (run as
`python -m workbench_apps.serve`, with `panel serve`'s arguments and `--users-file PATH` or
`--tracking-server-logins`; `workbench dashboard` does).

Tornado answers a route no app or Panel handler matches with its `default_handler_class`; a
bare 404 there tells a reviewer nothing. Ours links the apps, and like every page it needs a
login: a GET without one goes to the login page, anything else is refused (403). The handler
is set through `customize_kwargs`, Panel's hook for subclasses, rather than as a route, which
would sit before (and shadow) Panel's own login routes. The login provider is set there too
(`auth.PasswordLogins`): Panel's own basic auth checks a fixed list and forgets the
password, which a decision on the tracking server needs.

Panel's `pn.state.user` answers "guest" whenever a session's request carried an unsigned
`is_guest` cookie, before it looks at the signed login (panel/io/state.py, `_state.user`):
sessions never get that cookie here, and the apps read the signed cookie (`session.py`).
"""

from __future__ import annotations

import argparse
import sys
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from panel.command.serve import Serve
from tornado.web import HTTPError, RequestHandler

from workbench_apps.auth import Check, PasswordLogins, tracking_server_check, users_check


class NotFoundPage(RequestHandler):
    """Any unknown route: our 404 page for a logged-in user, else the login."""

    async def prepare(self) -> None:
        user = await self._user()
        if user is None:
            if self.request.method not in ("GET", "HEAD"):
                raise HTTPError(403)
            self.redirect(f"{self._login_url()}?next={quote(self.request.path)}")
            return
        self.set_status(404)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(not_found_html(unquote(self.request.path), str(user)))  # as typed

    async def _user(self) -> Any:
        provider = self.application.auth_provider  # type: ignore[attr-defined]
        if provider.get_user_async is not None:
            return await provider.get_user_async(self)
        if provider.get_user is not None:
            return provider.get_user(self)
        return "anonymous"  # a server without auth (never `workbench dashboard`)

    def _login_url(self) -> str:
        provider = self.application.auth_provider  # type: ignore[attr-defined]
        if provider.get_login_url is not None:
            return str(provider.get_login_url(self))
        return str(provider.login_url or "/login")


def not_found_html(path: str, user: str) -> str:
    from workbench_apps.index.data_store import APPS

    links = "".join(f'<li><a href="{escape(a.route)}">{escape(a.title)}</a>: {escape(a.what)}'
                    "</li>" for a in APPS)
    page = (files("workbench_apps") / "pages" / "not_found.html").read_text()
    return (page.replace("{{path}}", escape(path)).replace("{{user}}", escape(user))
            .replace("{{apps}}", links))


class WorkbenchServe(Serve):
    def customize_kwargs(self, args: argparse.Namespace, server_kwargs: dict[str, Any]
                         ) -> dict[str, Any]:
        kwargs = dict(super().customize_kwargs(args, server_kwargs))
        kwargs["default_handler_class"] = NotFoundPage  # a tornado Application setting
        kwargs["exclude_cookies"] = ["is_guest"]  # never in a session (see the docstring)
        check = login_check(args)
        if check is not None:
            if not kwargs.get("cookie_secret"):
                raise ValueError("password logins need PANEL_COOKIE_SECRET to sign cookies")
            pages = files("workbench_apps") / "pages"
            kwargs["auth_provider"] = PasswordLogins(
                check, login_template=str(pages / "login.html"),
                logout_template=args.logout_template or str(pages / "logout.html"))
        return kwargs


def login_check(args: argparse.Namespace) -> Check | None:
    """How a typed login is checked: by the tracking server, against the users file, or
    neither (an OAuth provider logs people in)."""
    if args.tracking_server_logins:
        return tracking_server_check
    if args.users_file:
        return users_check(Path(args.users_file))
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench_apps.serve")
    command = WorkbenchServe(parser=parser)
    logins = parser.add_mutually_exclusive_group()
    logins.add_argument("--users-file", help="JSON {user: password}, mode 0600")
    logins.add_argument("--tracking-server-logins", action="store_true",
                        help="check logins against the tracking server (MLflow basic auth)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    done = command.invoke(args)
    return 1 if done is False else 0


if __name__ == "__main__":
    sys.exit(main())
