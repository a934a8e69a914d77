"""Panel views of a model's drift: the verdict (the line every surface shows for the check),
the drift share over time with the threshold and the retrainings, each other signal over time
with the checks where it fired, the newest check's signals and columns, Evidently's report,
and the forms that run checks.

Column names, categories, paths and model names are data: HTML panes get escaped text, table
cells the plaintext formatter, and Evidently's report (whose own scripts draw it) runs in an
iframe sandboxed to scripts only, in an origin of its own, away from this page and its login.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import pandas as pd
import panel as pn

from workbench_apps.promotion.views import banner
from workbench_apps.runs.views import plain_table

REPORT_HEIGHT_PX = 900

__all__ = ["banner", "columns_table", "report_frame", "share_figure", "signal_figures",
           "signals_table", "verdict"]

FIRED, HELD = "#b00020", "#1b5e20"


def verdict(model: str, data: dict[str, Any]) -> pn.pane.HTML:
    """The newest check's verdict in the words every surface uses ("performance fired · drift
    0.14 / threshold 0.5") and why, or how to make the first check."""
    result, history, judged = data["result"], data["history"], data.get("verdict")
    note = (f"<p><em>Pipeline spec: {escape(data['policy_note'])}; drawn with the default "
            "threshold.</em></p>" if data["policy_note"] else "")
    if result is None or judged is None:
        return pn.pane.HTML(
            f"<h2>{escape(model)}</h2><p>No drift check logged yet: run one below, or "
            f"<code>workbench monitor {escape(model)} --data PATH</code>.</p>{note}",
            name="verdict", sizing_mode="stretch_width")
    last = history.iloc[-1]
    colour = FIRED if judged["drifting"] else HELD
    version = f" v{escape(str(last['version']))}" if last["version"] else ""
    if not note and abs(float(data["threshold"]) - float(judged["threshold"])) > 1e-12:
        note = (f"<p><em>The pipeline's threshold is {data['threshold']:g} now; this check "
                f"was judged at the {judged['threshold']:g} it recorded.</em></p>")
    return pn.pane.HTML(
        f"<h2>{escape(model)}{version}</h2>"
        f"<p class=\"wb-verdict\"><b style=\"color:{colour}\">{escape(judged['text'])}</b></p>"
        f"<p class=\"wb-why\">{escape(judged['why'])}</p>"
        f"<p>{len(result['drifted_columns'])} of {len(result['columns'])} columns drifted on "
        f"<code>{escape(str(result['current']))}</code>, checked "
        f"{escape(last['time'].strftime('%Y-%m-%d %H:%M UTC'))}; {len(history)} check"
        f"{'s' if len(history) != 1 else ''} in the history, "
        f"{len(data['retrainings'])} retraining{'s' if len(data['retrainings']) != 1 else ''}."
        f"</p>{note}", name="verdict", sizing_mode="stretch_width")


def share_figure(history: pd.DataFrame, threshold: float, retrainings: list[dict[str, Any]]
                 ) -> pn.pane.Bokeh:
    """Drift share per check over time, the threshold as a dashed line, each retraining a
    marker at its start (red when it failed)."""
    from bokeh.models import ColumnDataSource, HoverTool, Span
    from bokeh.plotting import figure

    chart = figure(title="Drift share over time", x_axis_type="datetime", y_range=(-0.02, 1.1),
                   y_axis_label="share of columns drifted", height=320,
                   sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save")
    # each check's data drift at the threshold it recorded; its verdict (any signal) on hover
    data_drift = [("data_drift" in fired) if isinstance(fired, list) else share >= threshold
                  for fired, share in zip(history.get("fired_signals", [None] * len(history)),
                                          history["share"], strict=True)]
    checks = ColumnDataSource({
        "time": list(history["time"].dt.tz_localize(None)), "share": list(history["share"]),
        "version": [str(v or "") for v in history["version"]],
        "run_id": list(history["run_id"]),
        "verdict": [str(v) for v in history.get("verdict", [""] * len(history))],
        "colour": [FIRED if fired else HELD for fired in data_drift]})
    chart.line("time", "share", source=checks, color="#666666")
    dots = chart.scatter("time", "share", source=checks, size=8, color="colour",
                         legend_label="check")
    chart.add_tools(HoverTool(renderers=[dots], formatters={"@time": "datetime"}, tooltips=[
        ("checked", "@time{%F %H:%M}"), ("share", "@share{0.00}"), ("verdict", "@verdict"),
        ("version", "@version"), ("run", "@run_id")]))
    chart.add_layout(Span(location=threshold, dimension="width", line_dash="dashed",
                          line_color="#b00020", line_width=2))
    chart.line([], [], line_dash="dashed", color="#b00020",
               legend_label=f"threshold {threshold:g}")  # the Span itself has no legend entry
    if retrainings:
        marks = ColumnDataSource({
            "time": [r["started"].replace(tzinfo=None) for r in retrainings],
            "y": [1.05] * len(retrainings), "state": [r["state"] for r in retrainings],
            "colour": ["#b00020" if r["state"] == "failed" else "#1f4e9c" for r in retrainings]})
        started = chart.scatter("time", "y", source=marks, marker="inverted_triangle", size=13,
                                color="colour", legend_label="retraining started")
        chart.add_tools(HoverTool(renderers=[started], formatters={"@time": "datetime"},
                                  tooltips=[("retraining", "@time{%F %H:%M}"),
                                            ("state", "@state")]))
    chart.legend.location = "top_left"
    return pn.pane.Bokeh(chart, name="share over time", sizing_mode="stretch_width")


SIGNAL_TITLES = {"input_drift": "Input drift: share of the model's inputs drifted",
                 "prediction_drift": "Prediction drift: the test's score on the predictions",
                 "performance": "Performance: the champion's metric on labelled rows"}


def signal_figures(history: pd.DataFrame) -> list[pn.pane.Bokeh]:
    """Each signal other than data drift that some check measured, over time: its value per
    check, red where it fired (`signal.<name>.value` / `.fired`, as the monitor logged them)."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    shown = []
    for name, title in SIGNAL_TITLES.items():
        key = f"signal.{name}.value"
        if key not in history.columns or not history[key].notna().any():
            continue
        rows = history[history[key].notna()]
        fired = rows[f"signal.{name}.fired"].fillna(0.0).astype(float) > 0 \
            if f"signal.{name}.fired" in rows.columns else pd.Series(False, index=rows.index)
        chart = figure(title=title, x_axis_type="datetime", y_axis_label=name, height=240,
                       sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save")
        times = list(rows["time"].dt.tz_localize(None))
        chart.line(times, list(rows[key]), color="#666666")
        hover = []
        for label, mask, colour in (("fired", fired, FIRED), ("held", ~fired, HELD)):
            if not mask.any():
                continue
            part = rows[mask]
            source = ColumnDataSource({"time": list(part["time"].dt.tz_localize(None)),
                                       "value": list(part[key]),
                                       "run_id": list(part["run_id"])})
            hover.append(chart.scatter("time", "value", source=source, size=9, color=colour,
                                       marker="x" if label == "fired" else "circle",
                                       legend_label=label))
        chart.add_tools(HoverTool(renderers=hover, formatters={"@time": "datetime"}, tooltips=[
            ("checked", "@time{%F %H:%M}"), (name, "@value{0.0000}"), ("run", "@run_id")]))
        chart.legend.location = "top_left"
        shown.append(pn.pane.Bokeh(chart, name=f"{name} over time",
                                   sizing_mode="stretch_width"))
    return shown


def signals_table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    """The newest check's signals: fired or not, value, what fires it, what was found (text)."""
    return plain_table(frame, name="signals", layout="fit_data_stretch",
                       height=min(60 + 40 * len(frame), 260))


def columns_table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    """Every tested column's test, score, threshold and verdict (names are plain text)."""
    return plain_table(frame, name="columns", layout="fit_data_stretch",
                       height=min(60 + 32 * len(frame), 420))


def report_frame(report_html: str) -> pn.pane.HTML:
    """Evidently's report, drawn by its own scripts in a sandbox: scripts run, but in an
    opaque origin, so they reach neither this page, its cookies nor the server."""
    return pn.pane.HTML(
        f'<iframe sandbox="allow-scripts" srcdoc="{escape(report_html, quote=True)}" '
        f'title="Evidently data drift report" '
        f'style="width:100%;height:{REPORT_HEIGHT_PX}px;border:1px solid #ddd"></iframe>',
        name="report", sizing_mode="stretch_width")


def check_form(placeholder: str, run: Callable[[str], Any], label: str = "Run a new check"
               ) -> tuple[pn.Column, pn.widgets.TextInput, pn.pane.HTML]:
    """A path field and a button; `run(path)` is awaited on click, the form's line says why
    a path was refused."""
    path = pn.widgets.TextInput(name="Production data (path in the project)",
                                placeholder=placeholder, sizing_mode="stretch_width")
    go = pn.widgets.Button(name=label, button_type="primary")
    said = pn.pane.HTML("", sizing_mode="stretch_width", name="form status")

    async def clicked(_: object) -> None:
        go.disabled, go.loading = True, True
        try:
            await run(path.value_input or path.value or "")
        finally:
            go.disabled, go.loading = False, False

    go.on_click(clicked)
    return pn.Column(path, go, said, sizing_mode="stretch_width"), path, said
