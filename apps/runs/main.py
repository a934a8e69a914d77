"""The runs dashboard: search runs with filters, page through them, pick several to compare
their curves and params, open a run's artifacts; a page with running runs updates live.

Served by `workbench dashboard` at /runs (`panel serve apps/runs`: a directory app).
"""

from __future__ import annotations

import panel as pn

from workbench_apps.runs.views import REFRESH_MS, RunsBrowser
from workbench_apps.session import signed_in


def create_app() -> pn.template.BaseTemplate:
    browser = RunsBrowser()
    if pn.state.curdoc is not None:  # served: running runs update live
        pn.state.add_periodic_callback(browser.refresh_running, period=REFRESH_MS)
    template = pn.template.BootstrapTemplate(title="Workbench: runs")
    template.sidebar.extend([*browser.controls(), signed_in()])
    template.main.append(browser)
    return template


if __name__.startswith("bokeh"):
    create_app().servable()
