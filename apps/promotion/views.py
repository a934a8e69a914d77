"""Panel views of one model's promotion state: champion, pending requests, history."""

from __future__ import annotations

from typing import Any

import panel as pn


def champion_card(model: str, data: dict[str, Any]) -> pn.viewable.Viewable:
    champion = f"v{data['champion']}" if data["champion"] else "none yet"
    chain = "intact" if data["history_ok"] else f"BROKEN: {data['history_check']}"
    return pn.pane.Markdown(
        f"## {model}\n**Champion:** {champion}  \n**History chain:** {chain}",
        name="champion", sizing_mode="stretch_width")


def pending_view(model: str, data: dict[str, Any]) -> pn.viewable.Viewable:
    if not data["pending"]:
        return pn.pane.Markdown("No pending promotion requests.", name="pending")
    lines = [f"- `{model}/{e['seq']}`: run `{e.get('run_id')}` requested by "
             f"{e.get('requester')} ({e.get('reason')}); approve with `workbench approve "
             f"{model}/{e['seq']} --approver WHO --reason WHY`" for e in data["pending"]]
    return pn.pane.Markdown("### Pending requests\n" + "\n".join(lines), name="pending")


def history_table(data: dict[str, Any]) -> pn.viewable.Viewable:
    return pn.widgets.Tabulator(data["history"], disabled=True, show_index=False,
                                sizing_mode="stretch_width", name="history", height=400)
