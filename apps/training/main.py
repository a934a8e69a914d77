"""The training dashboard: pick a train function (the built-in demo or the project's own
`module:function`), fill in its typed parameters, optionally a sweep space, and launch
`wb.train` or `wb.sweep`; its progress and metric curves grow while it runs, and it can be
cancelled.

Served by `workbench dashboard` at /training (`panel serve apps/training`: a directory app).
Launching, reading progress and cancelling run in a thread (`asyncio.to_thread`): the server's
event loop never waits on the store or the cluster, so the page stays responsive during a sweep.
"""

from __future__ import annotations

import asyncio
import json
from html import escape
from pathlib import Path
from typing import Any

import panel as pn

from workbench.config import project_root
from workbench.errors import WorkbenchError
from workbench_apps.session import app_template, signed_user
from workbench_apps.training import data_store, views

REFRESH_MS = 1500


class TrainingPage:
    def __init__(self, *, root: Path | None = None) -> None:
        self.root = project_root(root)
        self.function = pn.widgets.TextInput(name="Train function (module:function)",
                                             value=data_store.DEMO, sizing_mode="stretch_width")
        self.load = pn.widgets.Button(name="Read its parameters")
        self.data = pn.widgets.TextInput(
            name="Data (path in the project; empty: the function makes its own, the demo "
                 "generates rows)", placeholder="data/train.parquet",
            sizing_mode="stretch_width")
        self.fields = pn.Column(sizing_mode="stretch_width", name="params")
        self.free_params = pn.widgets.TextAreaInput(
            name="Params as JSON (this function declares no schema)", value="{}", rows=3,
            sizing_mode="stretch_width")
        self.space = pn.widgets.TextAreaInput(
            name="Sweep space, one per line: name=v1,v2 or name=loguniform:LOW:HIGH (empty: "
                 "one run)", rows=3, sizing_mode="stretch_width")
        self.metric = pn.widgets.TextInput(name="Metric (drawn; a sweep optimises it)",
                                           value="val_loss", sizing_mode="stretch_width")
        self.mode = pn.widgets.Select(name="Mode", options=["min", "max"], value="min",
                                      sizing_mode="stretch_width")
        self.trials = pn.widgets.IntInput(name="Random trials (0: the grid)", value=0,
                                          start=0, sizing_mode="stretch_width")
        self.workers = pn.widgets.IntInput(name="Workers (data-parallel)", value=1, start=1)
        self.go = pn.widgets.Button(name="Launch", button_type="primary")
        self.stop = pn.widgets.Button(name="Cancel", button_type="danger", disabled=True)
        self.said = pn.pane.HTML("", sizing_mode="stretch_width", name="form status")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", name="status")
        self.bar = pn.indicators.Progress(value=0, max=1, visible=False,
                                          sizing_mode="stretch_width")
        self.curves = pn.Column(sizing_mode="stretch_width", name="curves")
        self.params: list[data_store.Param] = []
        self.widgets: list[pn.widgets.Widget] = []
        self.job: Any = None
        self._ticking = False
        self.load.on_click(self.read_params)
        self.go.on_click(self.launch)
        self.stop.on_click(self.cancel)

    async def read_params(self, _: object = None) -> None:
        try:
            fn = await asyncio.to_thread(data_store.checked_function, self.function.value,
                                         self.root)
        except WorkbenchError as exc:
            self.said.object = views.banner(False, str(exc).splitlines()[0])
            return
        self.params = data_store.params_of(fn)
        self.widgets = [views.param_widget(p) for p in self.params]
        self.fields.objects = self.widgets or [self.free_params]
        if self.function.value.strip() == data_store.DEMO and not self.space.value:
            self.space.placeholder = data_store.DEMO_SPACE
        self.said.object = ""

    async def launch(self, _: object = None) -> None:
        if self.job is not None and not self.job_done():
            self.said.object = views.banner(False, "a job is running: cancel it or wait")
            return
        try:
            params = views.read_params(self.params, self.widgets) if self.widgets else \
                json.loads(self.free_params.value or "{}")
        except json.JSONDecodeError as exc:
            self.said.object = views.banner(False, f"params are not JSON ({exc.msg}); write "
                                                   'e.g. {"epochs": 3}')
            return
        self.go.disabled = self.go.loading = True
        self.said.object = "<p><em>Starting (the first launch starts the cluster)...</em></p>"
        try:
            outcome = await asyncio.to_thread(
                data_store.launch, self.function.value, params, self.root,
                data_path=self.data.value_input or self.data.value or "",
                sweep_space=self.space.value_input or self.space.value or "",
                metric=self.metric.value, mode=self.mode.value,
                n_trials=self.trials.value or None, workers=self.workers.value or 1,
                user=signed_user())
        finally:
            self.go.loading = False
        self.said.object = views.banner(outcome.ok, outcome.message)
        if not outcome.ok:
            self.go.disabled = False
            return
        self.job = outcome.job
        self.stop.disabled = False
        self.bar.visible = True
        await self.tick()

    def job_done(self) -> bool:
        return self.job is not None and self.job.status() in ("FINISHED", "FAILED", "KILLED")

    async def tick(self) -> None:
        """Progress and curves, read again (a periodic callback; one read at a time)."""
        if self.job is None or self._ticking:
            return
        self._ticking = True
        try:
            data = await asyncio.to_thread(data_store.snapshot, self.job, self.metric.value)
        finally:
            self._ticking = False
        self.status.object = views.status_line(data)
        if data["total_steps"]:
            self.bar.max, self.bar.value = data["total_steps"], min(data["done_steps"],
                                                                    data["total_steps"])
        if data["metric"]:
            runs = [{"run_id": r, "name": n} for r, n in data["runs"].items()]
            self.curves.objects = [views.curves_figure(data["metric"], runs, data["curves"])]
        if data["status"] in ("FINISHED", "FAILED", "KILLED"):
            self.go.disabled, self.stop.disabled = False, True
            first = next(iter(data["runs"]))
            link = getattr(self.job, "parent_run_id", None) or first
            word = {"KILLED": "cancelled"}.get(data["status"], data["status"].lower())
            self.said.object = views.banner(data["status"] == "FINISHED",
                                            f"{word}: run {link}") + \
                f'<p><a href="/runs">See it in Runs</a> (<code>{escape(link)}</code>)</p>'

    async def cancel(self, _: object = None) -> None:
        if self.job is None:
            return
        self.stop.disabled = True
        outcome = await asyncio.to_thread(data_store.cancel, self.job)
        self.said.object = views.banner(outcome.ok, outcome.message)
        await self.tick()

    def form(self) -> pn.Column:
        return pn.Column(self.function, self.load, self.data, self.fields, self.space,
                         pn.Row(self.metric, self.mode, self.trials,
                                sizing_mode="stretch_width"), self.workers,
                         pn.Row(self.go, self.stop), self.said, sizing_mode="stretch_width")

    def live(self) -> pn.Column:
        return pn.Column(self.status, self.bar, self.curves, sizing_mode="stretch_width")


def create_app() -> pn.template.BaseTemplate:
    page = TrainingPage()
    return app_template("training", pn.Row(page.form(), page.live(),
                                           sizing_mode="stretch_width"),
                        onload=page.read_params, every=(page.tick, REFRESH_MS))


if __name__.startswith("bokeh"):
    create_app().servable()
