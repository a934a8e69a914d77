"""The cockpit: one page with the dask cluster, the runs training now, every model's champion,
pending requests and drift, and the pipelines' last runs and next slots, each linking into its
app; read again every 5 s, in a thread. A part whose store or cluster does not answer shows a
banner saying so, and the page recovers by itself when it answers again.

Served by `workbench dashboard` at /cockpit (`panel serve apps/cockpit`: a directory app).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import panel as pn

from workbench.config import project_root
from workbench_apps.cockpit import data_store, views
from workbench_apps.session import app_template

REFRESH_MS = 5000


class CockpitPage:
    def __init__(self, *, root: Path | None = None) -> None:
        self.root = project_root(root)
        self.view = pn.pane.HTML("<p><em>Reading...</em></p>", sizing_mode="stretch_width",
                                 name="cockpit")
        self._reading = False

    async def refresh(self) -> None:
        if self._reading:  # a slow store: never pile reads up
            return
        self._reading = True
        try:
            reading = await asyncio.to_thread(data_store.read, self.root)
        finally:
            self._reading = False
        self.view.object = views.page(reading)


def create_app() -> pn.template.BaseTemplate:
    page = CockpitPage()
    return app_template("cockpit", page.view, onload=page.refresh,
                        every=(page.refresh, REFRESH_MS))


if __name__.startswith("bokeh"):
    create_app().servable()
