"""The runs dashboard: search runs with filters, page through them, pick several to compare
their curves and params, open a run's artifacts; a page with running runs updates live.

Served by `workbench dashboard` at /runs (`panel serve apps/runs`: a directory app).
"""

from __future__ import annotations

import panel as pn

from workbench_apps.runs.views import REFRESH_MS, RunsBrowser
from workbench_apps.session import app_template


def create_app() -> pn.template.BaseTemplate:
    browser = RunsBrowser()  # running runs update live
    return app_template("runs", browser, sidebar=browser.controls(),
                        every=(browser.refresh_running, REFRESH_MS))


if __name__.startswith("bokeh"):
    create_app().servable()
