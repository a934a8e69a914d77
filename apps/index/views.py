"""The index page as HTML; every value is escaped (a store URI or user name is data)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from workbench_apps.index.data_store import App


def page(apps: Iterable[App], where: dict[str, str], user: str | None, *,
         inline: bool = False) -> str:
    """Served: links to each app and who is signed in. Inline (a notebook): the call that
    shows each app in a cell."""
    links = "".join(
        (f"<li><code>wb.apps.{escape(a.route.strip('/'))}()</code>" if inline else
         f'<li><a href="{escape(a.route)}"><strong>{escape(a.title)}</strong></a>')
        + f": {escape(a.what)}</li>" for a in apps)
    who = (f"Signed in as <strong>{escape(user)}</strong> (<a href=\"/logout\">log out</a>)"
           if user else "Read-only, in this notebook: serve <code>workbench dashboard</code> "
                        "to decide" if inline else "Not signed in")
    return (f"<p>{who}</p><h3>Apps</h3><ul>{links}</ul><h3>Where</h3>"
            f"<p><strong>Tracking store:</strong> <code>{escape(where['store'])}</code><br>"
            f"<strong>Cluster:</strong> <code>{escape(where['cluster'])}</code></p>")
