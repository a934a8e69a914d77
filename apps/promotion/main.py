"""The promotion dashboard: pick a model, see its champion, pending requests and history.

Served by `workbench dashboard` at /promotion (`panel serve apps/promotion`: a directory app).
"""

from __future__ import annotations

import panel as pn

from workbench_apps.promotion import data_store, views


def create_app() -> pn.template.BaseTemplate:
    names = data_store.models()
    choice = pn.widgets.Select(name="Model", options=names, value=names[0] if names else None)
    refresh = pn.widgets.Button(name="Refresh", button_type="primary")

    @pn.depends(choice, refresh.param.clicks)
    def body(model: str | None, _clicks: int) -> pn.viewable.Viewable:
        if not model:
            return pn.pane.Markdown("No registered models yet: promote one with "
                                    "`workbench promote MODEL --run RUN_ID ...`.")
        data = data_store.summary(model)
        return pn.Column(views.champion_card(model, data), views.pending_view(model, data),
                         views.history_table(data), sizing_mode="stretch_width")

    template = pn.template.BootstrapTemplate(title="Workbench: promotion")
    template.sidebar.extend([choice, refresh])
    template.main.append(pn.panel(body))
    return template


if __name__.startswith("bokeh"):
    create_app().servable()
