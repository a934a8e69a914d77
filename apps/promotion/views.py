"""Panel views of one model's promotion state: champion, pending requests, history.

Every value here came from a user or from data (model names, reasons, identities, run ids), so
each is HTML-escaped into an HTML pane, never put into Markdown (which renders raw HTML), and the
history table formats every cell as plain text.
"""

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn


def champion_card(model: str, data: dict[str, Any]) -> pn.viewable.Viewable:
    champion = f"v{escape(str(data['champion']))}" if data["champion"] else "none yet"
    chain = "intact" if data["history_ok"] else f"BROKEN: {escape(str(data['history_check']))}"
    return pn.pane.HTML(
        f"<h2>{escape(model)}</h2><p><strong>Champion:</strong> {champion}<br>"
        f"<strong>History chain:</strong> {chain}</p>",
        name="champion", sizing_mode="stretch_width")


def pending_view(model: str, data: dict[str, Any]) -> pn.viewable.Viewable:
    if not data["pending"]:
        return pn.pane.HTML("<p>No pending promotion requests.</p>", name="pending")
    items = []
    for entry in data["pending"]:
        request = escape(f"{model}/{entry['seq']}")
        items.append(
            f"<li><code>{request}</code>: run <code>{escape(str(entry.get('run_id')))}</code> "
            f"requested by {escape(str(entry.get('requester')))} "
            f"({escape(str(entry.get('reason')))}); approve with <code>workbench approve "
            f"{request} --approver WHO --reason WHY</code></li>")
    return pn.pane.HTML("<h3>Pending requests</h3><ul>" + "".join(items) + "</ul>",
                        name="pending", sizing_mode="stretch_width")


def history_table(data: dict[str, Any]) -> pn.viewable.Viewable:
    frame = data["history"]
    plain = {column: {"type": "plaintext"} for column in frame.columns}  # escapes each cell
    return pn.widgets.Tabulator(frame, disabled=True, show_index=False, formatters=plain,
                                sizing_mode="stretch_width", name="history", height=400)
