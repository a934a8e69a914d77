"""Panel views of the training form and of a running job: a field per declared parameter,
the status line, the progress bar and the growing metric curves.

Parameter names, help texts, run names and metric names come from code or data: labels are
widget labels (drawn as text), HTML panes get escaped text.
"""

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn

from workbench_apps.promotion.views import banner
from workbench_apps.runs.views import curves_figure
from workbench_apps.training.data_store import Param

__all__ = ["banner", "curves_figure", "param_widget", "read_params", "status_line"]


def param_widget(param: Param) -> pn.widgets.Widget:
    """The field of one parameter, holding its default; bounds and help go in the label (the
    launch checks them and says which one a value broke)."""
    label = param.name + (f" ({param.bounds})" if param.bounds else "") + \
        (f": {param.help}" if param.help else "")
    common = {"name": label, "sizing_mode": "stretch_width"}
    if param.kind == "bool":
        return pn.widgets.Checkbox(value=bool(param.default), **common)
    if param.kind == "int":
        return pn.widgets.IntInput(value=param.default, **common)
    if param.kind == "float":
        return pn.widgets.FloatInput(value=param.default, **common)
    if param.kind == "choice":
        return pn.widgets.Select(options=list(param.options), value=param.default, **common)
    return pn.widgets.TextInput(value="" if param.default is None else str(param.default),
                                **common)


def read_params(params: list[Param], widgets: list[pn.widgets.Widget]) -> dict[str, Any]:
    """Each field's value under its parameter's name (empty text: the schema's default)."""
    values: dict[str, Any] = {}
    for param, widget in zip(params, widgets, strict=True):
        value = widget.value
        if param.kind == "str" and value == "" and param.default is None:
            continue
        if value is not None:
            values[param.name] = value
    return values


def status_line(data: dict[str, Any]) -> str:
    """"RUNNING: trial-0 step 3/8, val_loss 0.41; ..." as escaped HTML."""
    parts = []
    for run_id, p in data["progress"].items():
        name = data["runs"].get(run_id, run_id[:8])
        step = f"step {p['step'] + 1}/{p['total']}" if p["total"] else p["state"]
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(p["metrics"].items())[:3])
        parts.append(f"<li><code>{escape(name)}</code> ({escape(run_id[:8])}): "
                     f"{escape(p['state'])}, {escape(step)}"
                     f"{'; ' + escape(shown) if shown else ''}</li>")
    return (f"<p><strong>{escape(data['status'])}</strong></p><ul>{''.join(parts)}</ul>")
