"""Panel views of the runs browser: a page of runs, the picked runs' curves overlaid and params
side by side, and one run's artifacts.

Every value here came from a user or from data (run, experiment, param, tag and metric names and
values, artifact paths and contents): table cells use the plaintext formatter, HTML panes get
html.escape'd text, never Markdown (which renders raw HTML), and an artifact's HTML (an executed
notebook, a drift report) is shown in an iframe sandboxed without scripts, escaped into srcdoc.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd
import panel as pn

from workbench.errors import WorkbenchError
from workbench.runs import STATUSES
from workbench_apps.runs import data_store
from workbench_apps.session import run_link

ANY = "any"
LIVE = ("RUNNING", "SCHEDULED")  # a page holding such runs is read again while shown
REFRESH_MS = 5000
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
EMPTY_STORE = ("<p><strong>No runs yet.</strong> Train one with <code>workbench train "
               "--demo</code> or <code>wb.train(...)</code> in a notebook, then press Apply.</p>")


def message(text: str, kind: str = "info") -> str:
    """An HTML notice: `text` is escaped."""
    return f'<div class="wb-{kind}"><p>{escape(text)}</p></div>'


def as_text(frame: pd.DataFrame) -> dict[str, Any]:
    """Tabulator options that show every cell and title of `frame` as text (the plaintext
    formatter escapes); set again whenever the columns change."""
    return {"formatters": {column: {"type": "plaintext"} for column in frame.columns},
            "titles": {column: escape(str(column)) for column in frame.columns}}


def plain_table(frame: pd.DataFrame, **options: Any) -> pn.widgets.Tabulator:
    """A read-only Tabulator whose every cell is text."""
    return pn.widgets.Tabulator(frame, disabled=True, show_index=False,
                                sizing_mode="stretch_width", **as_text(frame), **options)


# The store pages in SQL (MLflow's page tokens, no total count): the table holds one page, which
# remote pagination sends alone, and the pager under it moves through the pages; Tabulator's
# own pager would only ever show "1 of 1", so it is hidden, and its header sort would sort one
# page only (order belongs to the search), so it is off.
HIDE_TABULATOR_PAGER = ".tabulator-footer { display: none; }"


def runs_table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    return plain_table(frame, selectable="checkbox", pagination="remote",
                       page_size=data_store.PAGE_SIZE, height=520, layout="fit_data_fill",
                       widths={"run_id": 110, "name": 280}, sortable=False,
                       stylesheets=[HIDE_TABULATOR_PAGER])


def curves_figure(metric: str, runs: list[dict[str, Any]],
                  curves: dict[str, dict[str, list[tuple[int, float]]]]) -> pn.viewable.Viewable:
    """One chart of `metric`, a line per run; Bokeh draws titles and legends as canvas text."""
    from bokeh.plotting import figure

    chart = figure(title=metric, x_axis_label="step", y_axis_label=metric, height=320,
                   sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save")
    for index, run in enumerate(runs):
        points = curves.get(run["run_id"], {}).get(metric)
        if not points:
            continue
        label = (run["name"] or run["run_id"][:8])[:40]
        chart.line([p[0] for p in points], [p[1] for p in points], line_width=2,
                   color=PALETTE[index % len(PALETTE)], legend_label=label)
    if chart.legend:
        chart.legend.click_policy = "hide"
    return pn.pane.Bokeh(chart, name=f"curve {metric}", sizing_mode="stretch_width")


def artifacts_list(run: dict[str, Any]) -> pn.pane.HTML:
    if not run["artifacts"]:
        return pn.pane.HTML(message(f"Run {run['name'] or run['run_id']} has no artifacts."),
                            name="artifacts")
    items = "".join(f"<li><code>{escape(a['path'])}</code> ({a['size'] or 0} bytes)</li>"
                    for a in run["artifacts"])
    return pn.pane.HTML(f"<h4>Artifacts of {escape(run['name'] or run['run_id'])}</h4>"
                        f"<p>Run <code>{escape(run['run_id'])}</code>{run_link(run['run_id'])}"
                        "</p>"
                        f"<ul>{items}</ul>", name="artifacts", sizing_mode="stretch_width")


def artifact_view(kind: str, text: str) -> pn.pane.HTML:
    if kind == "html":  # a whole document, maybe with scripts: sandboxed, no script runs
        return pn.pane.HTML(f'<iframe sandbox="" srcdoc="{escape(text, quote=True)}" '
                            'style="width:100%;height:640px;border:1px solid #ddd"></iframe>',
                            name="artifact", sizing_mode="stretch_width")
    return pn.pane.HTML(f"<pre style='white-space:pre-wrap'>{escape(text)}</pre>",
                        name="artifact", sizing_mode="stretch_width")


class RunsBrowser(pn.viewable.Viewer):
    """The runs page: filters and a pager beside a page of runs; picking runs compares them.

    Its actions (`apply`, `next_page`, `previous_page`, `compare`, `show_artifact`) are plain
    methods, so tests drive it without a browser."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.experiment = pn.widgets.Select(label="Experiment")
        self.filter = pn.widgets.TextInput(
            label="Filter (MLflow search syntax)",
            placeholder="params.lr = '0.1' and metrics.loss < 0.5")
        self.status = pn.widgets.Select(label="Status", options=[ANY, *STATUSES], value=ANY)
        self.apply_button = pn.widgets.Button(label="Apply", color="primary")
        self.previous_button = pn.widgets.Button(label="< Previous")
        self.next_button = pn.widgets.Button(label="Next >")
        self.page_label = pn.pane.HTML("", name="page")
        self.notice = pn.pane.HTML("", name="notice", sizing_mode="stretch_width")
        self.table = runs_table(data_store.page_frame([]))
        self.metric = pn.widgets.Select(label="Metric")
        self.comparison = pn.Column(sizing_mode="stretch_width", name="comparison")
        self.artifact = pn.widgets.Select(label="Artifact")
        self.detail = pn.Column(sizing_mode="stretch_width", name="detail")
        self.pager: data_store.Pager | None = None
        self._picked: list[dict[str, Any]] = []
        self._refreshing = False
        self.apply_button.on_click(lambda _: self.apply())
        self.next_button.on_click(lambda _: self.next_page())
        self.previous_button.on_click(lambda _: self.previous_page())
        self.table.param.watch(self._on_selection, "selection")
        self.metric.param.watch(lambda _: self._draw(), "value")
        self.artifact.param.watch(lambda e: self.show_artifact(e.new), "value")
        self.refresh_experiments()
        self.apply()

    def refresh_experiments(self) -> None:
        self.experiment.options = [ANY, *data_store.experiment_names()]
        if self.experiment.value not in self.experiment.options:
            self.experiment.value = ANY

    def apply(self) -> None:
        """Search again with the filters as they are now, from the first page."""
        experiment = None if self.experiment.value in (None, ANY) else self.experiment.value
        status = None if self.status.value == ANY else self.status.value
        try:
            self.pager = data_store.Pager(experiment, self.filter.value or "", status)
        except WorkbenchError as exc:
            self.pager = None
            self._show_page(message(str(exc), "error"))
            return
        self._show_page()

    def next_page(self) -> None:
        if self.pager is not None:
            self.pager.next()
            self._show_page()

    def previous_page(self) -> None:
        if self.pager is not None:
            self.pager.previous()
            self._show_page()

    def refresh_running(self) -> bool:
        """Read the page again when a run on it is running (main.py calls this every
        REFRESH_MS): picked runs stay picked and their curves grow. True when it read."""
        pager = self.pager
        if pager is None or not any(r["status"] in LIVE for r in pager.current.rows):
            return False
        before = [r["run_id"] for r in pager.current.rows]
        pager.refresh()
        if [r["run_id"] for r in pager.current.rows] != before:
            self._show_page()  # runs came or went: the old selection means other runs
            return True
        picked, frame = list(self.table.selection), data_store.page_frame(pager.current.rows)
        self._refreshing = True  # a new value clears the selection: put it back quietly
        try:
            self.table.param.update(value=frame, **as_text(frame))
            self.table.selection = picked
        finally:
            self._refreshing = False
        if picked:
            self.compare([str(frame.iloc[i]["run_id"]) for i in picked if i < len(frame)])
        return True

    def compare(self, run_ids: list[str]) -> None:
        """Curves of the picked runs overlaid, their params side by side, the first's artifacts."""
        self._picked = data_store.details(run_ids)
        metrics = data_store.shared_metrics(self._picked)
        self.metric.options = metrics
        if metrics and self.metric.value not in metrics:
            self.metric.value = metrics[0]  # its watcher draws
        else:
            self._draw()
        paths = [a["path"] for a in self._picked[0]["artifacts"]] if self._picked else []
        self.artifact.options = paths
        self.detail.objects = [artifacts_list(self._picked[0])] if self._picked else []

    def show_artifact(self, path: str | None) -> None:
        if not self._picked or not path:
            return
        try:
            kind, text = data_store.artifact_document(self._picked[0]["run_id"], path)
        except WorkbenchError as exc:
            kind, text = "text", str(exc)
        self.detail.objects = [artifacts_list(self._picked[0]), artifact_view(kind, text)]

    def _draw(self) -> None:
        if not self._picked:
            self.comparison.objects = []
            return
        parts: list[Any] = []
        metric = self.metric.value
        if metric:
            ids = [r["run_id"] for r in self._picked]
            parts.append(curves_figure(metric, self._picked, data_store.curves(ids, [metric])))
        parts.append(plain_table(data_store.params_side_by_side(self._picked)))
        self.comparison.objects = parts

    def _on_selection(self, event: Any) -> None:
        if self._refreshing:
            return
        frame = self.table.value
        ids = [str(frame.iloc[i]["run_id"]) for i in event.new if i < len(frame)]
        self.compare(ids)

    def _show_page(self, notice: str = "") -> None:
        pager = self.pager
        rows = pager.current.rows if pager else []
        frame = data_store.page_frame(rows)
        self.table.selection = []
        self.table.param.update(value=frame, **as_text(frame))
        if not notice and not rows:
            filtered = pager is not None and (pager.filter or pager.status or pager.experiment)
            notice = message("No runs match these filters.") if filtered else EMPTY_STORE
        self.notice.object = notice
        self.notice.visible = bool(notice)
        number = pager.number if pager else 1
        self.page_label.object = f"<p>Page {number}, {len(rows)} runs</p>"
        self.previous_button.disabled = number <= 1
        self.next_button.disabled = not (pager and pager.has_next)

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self.previous_button, self.page_label, self.next_button)
        return pn.Column(self.notice, self.table, pager, pn.Row(self.metric, self.artifact),
                         self.comparison, self.detail, sizing_mode="stretch_width")

    def controls(self) -> list[pn.viewable.Viewable]:
        return [self.experiment, self.filter, self.status, self.apply_button]
