"""The drift dashboard: pick a model to see its newest verdict, its drift share over time with
the threshold and the retrainings, the per-column table and Evidently's report, and run a new
check on production data; or compare two datasets of the project.

Served by `workbench dashboard` at /drift (`panel serve apps/drift`: a directory app).
Drift checks and store reads run in a thread (`asyncio.to_thread`): the server's event loop
never waits on them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import panel as pn

from workbench.config import project_root
from workbench.errors import WorkbenchError
from workbench_apps.drift import data_store, views
from workbench_apps.session import (
    ModelPage,
    app_template,
    pick_from_url,
    signed_user,
    unreadable,
)

LOADING = "<p><em>Loading Evidently's report...</em></p>"


class DriftPage(ModelPage):
    """One browser session's page; `actions` False for a read-only view (inline)."""

    def __init__(self, *, root: Path | None = None, actions: bool = True,
                 model: str | None = None) -> None:
        self.root, self.actions = project_root(root), actions
        self.report = pn.Column(sizing_mode="stretch_width")
        self.form, self.path, self.form_status = views.check_form("data/production.parquet",
                                                                  self.run_check)
        self.compare_view = self._two_datasets()
        super().__init__(data_store.models(), model)

    async def refresh(self, _: object = None) -> None:
        model = self.choice.value
        if not model:
            self.body.objects = [pn.pane.HTML(
                "<p>No model has drift checks or a registration yet: check one with "
                "<code>workbench monitor MODEL --data PATH</code>, or compare two datasets "
                "in the next tab.</p>")]
            self.report.objects = []
            return
        try:
            data = await asyncio.to_thread(data_store.overview, str(model), self.root)
        except Exception as exc:  # the store is gone: say so; Refresh reads again
            self.banner.object = views.banner(False, unreadable(exc))
            return
        self.banner.object = ""
        parts: list[pn.viewable.Viewable] = [views.verdict(str(model), data)]
        if len(data["history"]):
            parts.append(views.share_figure(data["history"], data["threshold"],
                                            data["retrainings"]))
            parts += views.signal_figures(data["history"])
            if data["signals"]:
                parts.append(pn.pane.HTML("<h3>Signals of the newest check</h3>"))
                parts.append(views.signals_table(data_store.signal_rows(data["signals"])))
            parts.append(pn.pane.HTML("<h3>Columns of the newest check</h3>"))
            parts.append(views.columns_table(data_store.column_rows(data["result"])))
        if self.actions:
            parts += [pn.pane.HTML("<h3>Run a new check</h3><p>Against the champion's training "
                                   "data, logged to this history; it never starts a "
                                   "retraining (<code>workbench monitor</code> does).</p>"),
                      self.form]
        self.body.objects = parts
        await self._show_report(data["latest"] if data["result"] else None)

    async def _show_report(self, run_id: str | None) -> None:
        if run_id is None:
            self.report.objects = []
            return
        self.report.objects = [pn.pane.HTML(LOADING)]
        try:
            text = await asyncio.to_thread(data_store.report, run_id)
        except WorkbenchError as exc:  # a check that tested no column has no report
            self.report.objects = [pn.pane.HTML(views.banner(False, str(exc).splitlines()[0]))]
            return
        self.report.objects = [pn.pane.HTML("<h3>Evidently's report</h3>"),
                               views.report_frame(text)]

    async def run_check(self, path: str) -> None:
        model = str(self.choice.value or "")
        if not model:
            self.form_status.object = views.banner(False, "pick a model first")
            return
        self.form_status.object = "<p><em>Checking...</em></p>"
        outcome = await asyncio.to_thread(data_store.check, model, path, self.root,
                                          user=signed_user())
        if outcome.ok:
            await self.refresh()
        self.form_status.object = views.banner(outcome.ok, outcome.message)

    def _two_datasets(self) -> pn.Column:
        reference = pn.widgets.TextInput(name="Reference data (path in the project)",
                                         placeholder="data/train.parquet",
                                         sizing_mode="stretch_width")
        current = pn.widgets.TextInput(name="Current data (path in the project)",
                                       placeholder="data/production.parquet",
                                       sizing_mode="stretch_width")
        go = pn.widgets.Button(name="Compare", button_type="primary")
        said = pn.pane.HTML("", sizing_mode="stretch_width", name="compare status")
        found = pn.Column(sizing_mode="stretch_width")

        async def clicked(_: object) -> None:
            go.disabled = go.loading = True
            said.object, found.objects = "<p><em>Comparing...</em></p>", []
            try:
                outcome = await asyncio.to_thread(
                    data_store.compare, reference.value_input or reference.value or "",
                    current.value_input or current.value or "", self.root)
                said.object = views.banner(outcome.ok, outcome.message)
                if outcome.ok:
                    result = outcome.result
                    text = await asyncio.to_thread(result.to_html) if result.columns else ""
                    found.objects = [pn.pane.HTML(result._repr_html_(),
                                                  sizing_mode="stretch_width")] + (
                        [views.report_frame(text)] if text else [])
            finally:
                go.disabled = go.loading = False

        go.on_click(clicked)
        return pn.Column(pn.pane.HTML("<p>Compare any two datasets of the project; nothing "
                                      "is logged.</p>"), reference, current, go, said, found,
                         sizing_mode="stretch_width")

    def layout(self) -> pn.Tabs:
        model = pn.Column(self.banner, self.body, self.report, sizing_mode="stretch_width")
        if not self.actions:
            return pn.Tabs(("Model", model))
        return pn.Tabs(("Model", model), ("Two datasets", self.compare_view),
                       sizing_mode="stretch_width")


def create_app() -> pn.template.BaseTemplate:
    page = DriftPage()
    pick_from_url(page.choice)  # /drift?model=NAME, as the cockpit links
    return app_template("drift", page.layout(), sidebar=[page.choice, page.refresh_button],
                        onload=page.refresh)


if __name__.startswith("bokeh"):
    create_app().servable()
