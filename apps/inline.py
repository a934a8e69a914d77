"""The dashboards inside a notebook: `wb.apps.index()`, `.cockpit()`, `.runs()`, `.drift()`,
`.promotion()`
display the same Panel views `workbench dashboard` serves, in JupyterLab and in marimo.

They are read-only (no Approve, Decline, rollback or new checks): a notebook has no login, and
decisions are recorded as a logged-in user; serve the dashboard to decide.

Jupyter: Panel's JavaScript is loaded once per kernel, on the first display. Bokeh embeds the
page's document as a JavaScript object literal in a <script>, and does not escape "</script>"
inside its strings (bokeh#14489): a model name or a reason holding "</script><img onerror=...>"
would end the script and run as markup. Every "<" of that literal is written "\\u003c" (the
same character to JavaScript), so nothing a value holds can close the script.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine
from typing import Any

import panel as pn

_loaded = threading.Event()
_DOCS_JSON = re.compile(r"(var docs_json = )([^\n]*)(;)")  # one line: JSON escapes newlines


class InlineApp:
    """One app as a notebook cell's value; `.panel` is the Panel object."""

    def __init__(self, title: str, panel: pn.viewable.Viewable) -> None:
        self.title, self.panel = title, panel

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not _loaded.is_set():
            pn.extension("tabulator", inline=True)  # offline: JS from the package, no CDN
            _loaded.set()
        shown = self.panel._repr_mimebundle_(include, exclude)
        if shown is None:
            return None
        data, metadata = shown
        if "text/html" in data:
            data = {**data, "text/html": script_safe(data["text/html"])}
        return data, metadata

    def _display_(self) -> pn.viewable.Viewable:  # marimo renders Panel objects itself
        return self.panel

    def __repr__(self) -> str:
        return f"<workbench app {self.title}: display it in a notebook cell>"


def script_safe(html: str) -> str:
    """`html` with every "<" inside Bokeh's embedded document written "\\u003c"."""
    return _DOCS_JSON.sub(lambda m: m[1] + m[2].replace("<", "\\u003c") + m[3], html)


def index() -> InlineApp:
    from workbench_apps.index import data_store, views

    return InlineApp("index", pn.pane.HTML(
        views.page(data_store.APPS, data_store.where(), None, inline=True),
        sizing_mode="stretch_width"))


def cockpit() -> InlineApp:
    """The cockpit as read now (display it again to read again)."""
    from workbench.config import project_root
    from workbench_apps.cockpit import data_store, views

    return InlineApp("cockpit", pn.pane.HTML(views.page(data_store.read(project_root())),
                                             sizing_mode="stretch_width"))


def runs() -> InlineApp:
    from workbench_apps.runs.views import RunsBrowser

    browser = RunsBrowser()
    return InlineApp("runs", pn.Row(pn.Column(*browser.controls(), width=300), browser,
                                    sizing_mode="stretch_width"))


def promotion(model: str | None = None) -> InlineApp:
    from workbench_apps.promotion.main import PromotionPage

    return _model_app("promotion", PromotionPage(actions=False, model=model))


def drift(model: str | None = None) -> InlineApp:
    from workbench_apps.drift.main import DriftPage

    return _model_app("drift", DriftPage(actions=False, model=model))


def _model_app(title: str, page: Any) -> InlineApp:
    """A one-model page, its first read done, with its model select above it."""
    _wait(page.refresh())
    return InlineApp(title, pn.Column(page.choice, page.layout(), sizing_mode="stretch_width"))


def _wait(step: Coroutine[Any, Any, None]) -> None:
    """Run a page's first read to the end before it is shown. A notebook's kernel already runs
    an event loop, so the coroutine gets a loop of its own, in a thread."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(step)
        except BaseException as exc:  # raised again in the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=run, name="workbench-inline-read")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
