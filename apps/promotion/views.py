"""Panel views of one model's promotion state: champion, pending requests, history, and the
controls that decide them.

Every value here came from a user or from data (model names, reasons, identities, run ids,
gate details), so each is HTML-escaped into an HTML pane, never put into Markdown (which
renders raw HTML), and the history table formats every cell as plain text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

import pandas as pd
import panel as pn

from workbench_apps.session import run_link

# Each returns True once it acted: the page is then drawn anew, and the widgets of this one
# are gone (touching them again would send stale models to the browser).
Decide = Callable[[str, str, str], Awaitable[bool]]  # (request id, decision, reason)
RollBack = Callable[[str, str], Awaitable[bool]]  # (to version, reason)


def banner(ok: bool, message: str) -> str:
    """The one-line outcome of an action, as HTML (empty: nothing to say)."""
    if not message:
        return ""
    kind = "success" if ok else "danger"
    return f'<div class="alert alert-{kind}" role="status">{escape(message)}</div>'


def champion_card(model: str, data: dict[str, Any], roll_back: RollBack | None = None
                  ) -> pn.viewable.Viewable:
    champion = f"v{escape(str(data['champion']))}" if data["champion"] else "none yet"
    chain = "intact" if data["history_ok"] else f"BROKEN: {escape(str(data['history_check']))}"
    card = pn.pane.HTML(
        f"<h2>{escape(model)}</h2><p><strong>Champion:</strong> {champion}<br>"
        f"<strong>History chain:</strong> {chain}</p>",
        name="champion", sizing_mode="stretch_width")
    target = data.get("rollback_to")
    if roll_back is None or not target or not data["champion"]:
        return card
    return pn.Column(card, _rollback_control(model, str(data["champion"]), str(target),
                                             roll_back), sizing_mode="stretch_width")


def _rollback_control(model: str, current: str, target: str, roll_back: RollBack
                      ) -> pn.viewable.Viewable:
    """"Roll back to vN", then a question naming both versions and a reason before it moves."""
    start = pn.widgets.Button(name=f"Roll back to v{target}", button_type="warning")
    question = pn.pane.HTML(
        f"<p><strong>Move the champion of {escape(model)} from v{escape(current)} back to "
        f"v{escape(target)}?</strong></p>", sizing_mode="stretch_width")
    reason = pn.widgets.TextAreaInput(name="Reason for the rollback", rows=2,
                                      sizing_mode="stretch_width")
    confirm = pn.widgets.Button(name="Confirm rollback", button_type="danger")
    cancel = pn.widgets.Button(name="Cancel")
    asking = pn.Column(question, reason, pn.Row(confirm, cancel), visible=False,
                       sizing_mode="stretch_width")

    def show(_: object) -> None:
        asking.visible, start.visible = True, False

    def hide(_: object) -> None:
        asking.visible, start.visible = False, True

    async def go(_: object) -> None:
        confirm.disabled = True
        if not await roll_back(target, reason.value_input or reason.value):
            confirm.disabled = False  # refused: the banner says why, try again

    start.on_click(show)
    cancel.on_click(hide)
    confirm.on_click(go)
    return pn.Column(start, asking, sizing_mode="stretch_width")


def pending_view(model: str, data: dict[str, Any], decide: Decide | None = None
                 ) -> pn.viewable.Viewable:
    if not data["pending"]:
        return pn.pane.HTML("<p>No pending promotion requests.</p>", name="pending")
    cards = [request_card(model, entry, decide) for entry in data["pending"]]
    return pn.Column(pn.pane.HTML("<h3>Pending requests</h3>"), *cards, name="pending",
                     sizing_mode="stretch_width")


def request_card(model: str, entry: dict[str, Any], decide: Decide | None
                 ) -> pn.viewable.Viewable:
    """One request: what is asked, by whom and why, every gate's result; a reason field and
    Approve / Decline (without `decide`, read-only: the inline view has no login)."""
    request_id = f"{model}/{entry['seq']}"
    head = pn.pane.HTML(
        f"<p><code>{escape(request_id)}</code>: {asks(entry)}, requested by "
        f"<strong>{_shown(entry.get('requester'))}</strong> at {_shown(entry.get('at'))}<br>"
        f"Why: {_shown(entry.get('reason'), 'no reason given')}</p>"
        + gates_table(entry.get("gates") or []), sizing_mode="stretch_width")
    if decide is None:
        return pn.Column(head, sizing_mode="stretch_width", styles=_CARD)
    reason = pn.widgets.TextAreaInput(name=f"Reason for deciding {request_id}", rows=2,
                                      sizing_mode="stretch_width")
    approve = pn.widgets.Button(name="Approve", button_type="success")
    decline = pn.widgets.Button(name="Decline", button_type="danger")

    def act(decision: str) -> Callable[[object], Awaitable[None]]:
        async def clicked(_: object) -> None:
            approve.disabled = decline.disabled = True
            if not await decide(request_id, decision, reason.value_input or reason.value):
                approve.disabled = decline.disabled = False  # refused: the banner says why
        return clicked

    approve.on_click(act("approve"))
    decline.on_click(act("decline"))
    return pn.Column(head, reason, pn.Row(approve, decline), sizing_mode="stretch_width",
                     styles=_CARD)


def asks(entry: dict[str, Any]) -> str:
    """What a request asks, as HTML: "promotion of run <id>" (a promotion request names a run;
    its version is registered only once approved), "promotion of vN (run <id>)" once a version
    exists, "rollback to vN (run <id>)"; never a missing value as "None"."""
    version, run_id = entry.get("version"), entry.get("run_id")
    run = ""
    if run_id:
        short = str(run_id)[:8]
        run = (f'run <code title="{escape(str(run_id), quote=True)}">{escape(short)}</code>'
               f"{run_link(str(run_id))}")
    kind = "rollback to" if entry.get("kind") == "rollback" else "promotion of"
    if version is None or str(version) == "":
        return f"{kind} {run}" if run else f"{kind} an unknown run"
    return f"{kind} v{escape(str(version))}" + (f" ({run})" if run else "")


def _shown(value: object, missing: str = "unknown") -> str:
    """`value` escaped, or `missing` (in italics) where there is none: never "None"."""
    return f"<em>{missing}</em>" if value is None or str(value) == "" else escape(str(value))


_CARD = {"border": "1px solid #ddd", "border-radius": "6px", "padding": "4px 12px",
         "margin-bottom": "8px"}


def gates_table(gates: list[dict[str, Any]]) -> str:
    """Each gate's verdict, name and detail, wrapped (no sideways scrolling)."""
    if not gates:
        return "<p><em>No gates were required.</em></p>"
    rows = "".join(
        f"<tr><td>{'passed' if g.get('passed') else 'FAILED'}</td>"
        f"<td>{escape(str(g.get('gate', '')))}</td>"
        f"<td>{escape(str(g.get('detail') or g.get('reason') or ''))}</td></tr>"
        for g in gates)
    return ('<table style="width:100%;table-layout:fixed;word-wrap:break-word">'
            '<colgroup><col style="width:6em"><col style="width:30%"><col></colgroup>'
            "<tr><th>verdict</th><th>gate</th><th>detail</th></tr>" + rows + "</table>")


# Each column's header, and a width (px) that shows it, and the column's usual values, in full
# at the page's 16px bold: a header has no sort arrow beside it (the history is in order, newest
# first), so the width is the title plus the cell's padding (24 px). At the default page width
# (1280 px, the sidebar open) reason and gates share the ~200 px left; their smallest widths
# keep their headers whole, so a narrower page scrolls the table sideways instead of cutting.
HISTORY_TITLES = {"seq": "seq", "at": "at (UTC)", "action": "action", "version": "version",
                  "previous": "previous", "run_id": "run_id", "who": "who", "reason": "reason",
                  "gates": "gates"}
_WIDTHS = {"seq": 58, "at": 145, "action": 95, "version": 95, "previous": 105, "run_id": 100,
           "who": 75}
_MIN_WIDTHS = {"reason": 90, "gates": 85}


def history_table(data: dict[str, Any]) -> pn.viewable.Viewable:
    frame = data["history"].copy()
    at = pd.to_datetime(frame["at"], utc=True, errors="coerce", format="ISO8601")
    frame["at"] = at.dt.strftime("%Y-%m-%d %H:%M").where(at.notna(), frame["at"])
    # plain text escapes each cell; textarea keeps it escaped and wraps the long ones
    wrap = {"reason", "gates", "who", "run_id"}
    formatters = {column: {"type": "textarea" if column in wrap else "plaintext"}
                  for column in frame.columns}
    return pn.widgets.Tabulator(
        frame, disabled=True, show_index=False, formatters=formatters,
        titles={c: HISTORY_TITLES.get(c, c) for c in frame.columns}, widths=dict(_WIDTHS),
        layout="fit_columns", header_align="left",
        configuration={"columnDefaults": {"headerSort": False},
                       "columns": [{"field": c, "minWidth": w} for c, w in _MIN_WIDTHS.items()]},
        sizing_mode="stretch_width", name="history", height=400)


def timeline(data: dict[str, Any]) -> pn.viewable.Viewable:
    """The champion's version over time: a step at each promotion or rollback, hover for who
    and why (Bokeh draws tooltips' values as text). The time axis reads as dates and times at
    any span: one point (or a few close together) gets an hour either side, not a millisecond."""
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.plotting import figure

    frame = data["history"]
    moves = frame[frame["action"].isin(["promoted", "rollback"]) & frame["version"].notna()]
    if moves.empty:
        return pn.pane.HTML("<p><em>No champion yet, so no timeline.</em></p>")
    moves = moves.iloc[::-1]  # oldest first
    at = list(pd.to_datetime(moves["at"], utc=True, format="ISO8601").dt.tz_localize(None))
    source = ColumnDataSource({
        "at": at, "version": [int(v) for v in moves["version"]], "action": list(moves["action"]),
        "who": [str(w or "") for w in moves["who"]], "reason": [str(r or "") for r in
                                                               moves["reason"]],
        "colour": ["#b06000" if a == "rollback" else "#1f4e9c" for a in moves["action"]]})
    pad = max((max(at) - min(at)) * 0.05, pd.Timedelta(hours=1))
    chart = figure(title="Champion over time", x_axis_type="datetime", height=220,
                   x_range=Range1d(min(at) - pad, max(at) + pad),
                   y_axis_label="champion version", sizing_mode="stretch_width",
                   tools="pan,wheel_zoom,box_zoom,reset,save")
    chart.xaxis.formatter = time_axis()
    chart.step("at", "version", source=source, mode="after", color="#999999")
    dots = chart.scatter("at", "version", source=source, size=10, color="colour")
    chart.add_tools(HoverTool(renderers=[dots], formatters={"@at": "datetime"}, tooltips=[
        ("at", "@at{%F %H:%M} UTC"), ("version", "v@version"), ("action", "@action"),
        ("who", "@who"), ("why", "@reason")]))
    chart.yaxis.ticker.desired_num_ticks = min(10, max(int(moves["version"].max()), 2))
    return pn.pane.Bokeh(chart, name="timeline", sizing_mode="stretch_width")


def time_axis() -> Any:
    """Tick labels as times of day (below the first, its date) or dates, whatever the zoom:
    Bokeh's defaults label a short span "500us" or ":15"."""
    from bokeh.models import DatetimeTickFormatter

    day = "%Y-%m-%d"
    return DatetimeTickFormatter(
        microseconds="%H:%M:%S.%6N", milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S",
        minsec="%H:%M:%S", minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days=day,
        months="%Y-%m", years="%Y",
        context=DatetimeTickFormatter(
            microseconds=day, milliseconds=day, seconds=day, minsec=day, minutes=day,
            hourmin=day, hours=day, days="%Y", months="%Y", years=""),
        context_which="start")


ShowDossier = Callable[[str], Awaitable[str]]  # version -> the dossier page's HTML


def dossier_picker(versions: list[str], show: ShowDossier) -> pn.viewable.Viewable:
    """Pick any version to read its dossier (approval, gates, code, data, params, metrics),
    drawn in a frame without scripts."""
    if not versions:
        return pn.pane.HTML("")
    choice = pn.widgets.Select(name="Dossier of version", options=versions,
                               value=versions[0], width=200)
    button = pn.widgets.Button(name="Show dossier")
    frame = pn.Column(sizing_mode="stretch_width")

    async def clicked(_: object) -> None:
        page = await show(str(choice.value))
        frame.objects = [pn.pane.HTML(
            f'<iframe sandbox="" srcdoc="{escape(page, quote=True)}" title="dossier" '
            'style="width:100%;height:640px;border:1px solid #ddd"></iframe>',
            sizing_mode="stretch_width", name="dossier")]

    button.on_click(clicked)
    return pn.Column(pn.Row(choice, button), frame, sizing_mode="stretch_width")
