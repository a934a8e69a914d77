"""The index at `/`: every app with what it shows, the tracking store, the cluster and the
logged-in user. Served by `workbench dashboard` (`panel serve ... --index index`)."""

from __future__ import annotations

import panel as pn

from workbench_apps.index import data_store, views
from workbench_apps.session import signed_user


def create_app() -> pn.template.BaseTemplate:
    template = pn.template.BootstrapTemplate(title="Workbench")
    template.main.append(pn.pane.HTML(
        views.page(data_store.APPS, data_store.where(), signed_user()),
        sizing_mode="stretch_width"))
    return template


if __name__.startswith("bokeh"):
    create_app().servable()
