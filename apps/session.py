"""What every served app reads from the browser session: who is signed in, and the model a
link asked for (`/drift?model=NAME`, as the cockpit links).

Who is signed in comes from Panel's signed `user` cookie, never from `pn.state.user`: that
answers "guest" to any request carrying an unsigned `is_guest` cookie, before it looks at the
signed one (panel/io/state.py, `_state.user`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import panel as pn

from workbench_apps.identity import LOGIN_COOKIE, PASSWORDS, SignedIn


def signed_user() -> str | None:
    """The login of this session, from its signed cookie (None: none, or a forged one)."""
    return _signed_cookie("user")


def signed_in() -> SignedIn:
    """Who acts in this session, with the password this server holds for the login when it
    checked one (password logins); OAuth logins hold none."""
    user = signed_user()
    if user is None or not PASSWORDS.checked:
        return SignedIn(user)
    password = PASSWORDS.password(_signed_cookie(LOGIN_COOKIE), user)
    return SignedIn(user, password, forgotten=password is None)


def _signed_cookie(name: str) -> str | None:
    from panel.config import config
    from tornado.web import decode_signed_value

    raw = pn.state.cookies.get(name)
    if not raw or not config.cookie_secret:
        return None
    value = decode_signed_value(config.cookie_secret, name, raw,
                                max_age_days=config.oauth_expiry)
    return value.decode("utf-8") if value else None


def signed_in_line() -> pn.pane.HTML:
    """The sidebar's "Signed in as USER" line (the name escaped: it came from a login)."""
    return pn.pane.HTML(f"<p>Signed in as <strong>{escape(signed_user() or '?')}</strong>"
                        '</p><p><a href="/">All apps</a></p>')


def pick_from_url(choice: pn.widgets.Select) -> None:
    """Select the `model` the page's URL names, if it is one of the choices."""
    args = pn.state.session_args or {}
    wanted = (args.get("model") or [b""])[0].decode(errors="replace")
    if wanted in choice.options:
        choice.value = wanted


def unreadable(exc: BaseException) -> str:
    """One line for a read that failed (a tracking server gone, a store locked)."""
    from workbench.config import settings
    from workbench.tracking.store import display_uri

    said = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return (f"could not read the tracking store {display_uri(settings().tracking_uri)} "
            f"({said}); press Refresh to try again")


def run_link(run_id: str | None) -> str:
    """" (open in MLflow)" linking the run's page in the MLflow UI, when one is configured."""
    from workbench.config import run_url

    url = run_url(run_id) if run_id else None
    return (f' (<a href="{escape(url)}" target="_blank" rel="noopener">open in MLflow</a>)'
            if url else "")


def app_template(title: str, main: pn.viewable.Viewable, *,
                 sidebar: Sequence[pn.viewable.Viewable] = (),
                 onload: Callable[[], Any] | None = None,
                 every: tuple[Callable[[], Any], int] | None = None) -> pn.template.BaseTemplate:
    """A served app's page: `main`, the sidebar with who is signed in, a first read once the
    page has loaded, and (`every`: callback, period in ms) a periodic one while it is open."""
    template = pn.template.BootstrapTemplate(title=f"Workbench: {title}")
    template.sidebar.extend([*sidebar, signed_in_line()])
    template.main.append(main)
    if onload is not None:
        pn.state.onload(onload)
    if every is not None and pn.state.curdoc is not None:  # served, not a test's document
        pn.state.add_periodic_callback(every[0], period=every[1])
    return template


class ModelPage:
    """A page about one model at a time: its select, a Refresh button, a banner line and a
    body; choosing a model or pressing Refresh awaits `refresh` (Panel runs async callbacks
    on the session's loop, holding its document)."""

    def __init__(self, names: Sequence[str], model: str | None = None) -> None:
        if model is not None and model not in names:
            from workbench.errors import ConfigError

            raise ConfigError(f"no model {model!r} here; pick one of "
                              f"{', '.join(map(repr, names)) or 'none yet'}")
        # chosen before the watch below: choosing later would read the model a second time
        self.choice = pn.widgets.Select(name="Model", options=list(names),
                                        value=model or (names[0] if names else None))
        self.refresh_button = pn.widgets.Button(name="Refresh", button_type="primary")
        self.banner = pn.pane.HTML("", sizing_mode="stretch_width", name="banner")
        self.body = pn.Column(sizing_mode="stretch_width")
        self.choice.param.watch(self.refresh, "value")
        self.refresh_button.on_click(self.refresh)

    async def refresh(self, _: object = None) -> None:
        raise NotImplementedError
