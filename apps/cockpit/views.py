"""The cockpit's parts as small HTML tables, each linking into its app. Every value (worker
names, run and model names, metric keys, pipeline names, errors) is escaped."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from workbench_apps.promotion.views import banner

TABLE = '<table class="wb-cockpit" style="width:100%;table-layout:auto">'
STYLE = ("<style>.wb-cockpit td,.wb-cockpit th{padding:2px 8px;text-align:left;"
         "vertical-align:top;word-break:break-word}</style>")


def _table(head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p><em>{escape(empty)}</em></p>"
    top = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"{TABLE}<tr>{top}</tr>{body}</table>"


def _bytes(n: float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return "-"


def part(title: str, body: str, error: str | None) -> str:
    shown = banner(False, f"{title} could not be read: {error}") if error else body
    return f"<h3>{escape(title)}</h3>{shown}"


def cluster(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    if data["state"] == "none":
        return ("<p>No cluster yet: the first training or pipeline step starts a local one "
                "(<a href=\"/training\">launch one</a>), or set <code>WORKBENCH_SCHEDULER</code>."
                "</p>")
    link = (f' (<a href="{escape(data["dashboard"])}" target="_blank" rel="noopener">dask '
            "dashboard</a>)" if data.get("dashboard") else "")
    rows = []
    for w in data["workers"]:
        tasks = ", ".join(f"{escape(str(k))} {int(v)}" for k, v in sorted(w["tasks"].items())
                          if v) or "idle"
        gpu = "-" if w["gpu_utilization"] is None else \
            f"{w['gpu_utilization']:.0f}%, {_bytes(w['gpu_memory'])} of " \
            f"{_bytes(w['gpu_memory_total'])}"
        rows.append([f"<code>{escape(w['address'])}</code>", str(w["nthreads"]),
                     f"{w['cpu']:.0f}%",
                     f"{_bytes(w['memory'])} of {_bytes(w['memory_limit'])}", gpu, tasks])
    return (f"<p>Scheduler <code>{escape(data['scheduler'] or '')}</code>{link}: "
            f"{len(data['workers'])} workers</p>"
            + _table(["worker", "threads", "CPU", "memory", "GPU", "tasks"], rows,
                     "no workers"))


def running(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return ""
    shown = []
    for run in rows:
        metrics = ", ".join(f"{escape(k)} {v:.4g}" for k, v in sorted(run["metrics"].items())[:4])
        shown.append([f'<a href="/runs">{escape(run["name"] or run["run_id"][:8])}</a>',
                      escape(run["experiment"]), escape(run["started"] or ""), metrics or "-"])
    return _table(["run", "experiment", "started", "latest metrics"], shown,
                  "Nothing is training now.")


def models(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return ""
    shown = []
    for m in rows:
        name = quote(m["model"], safe="")
        if m["verdict"] is None:
            drift = f'<a href="/drift?model={name}">no check yet</a>'
        else:  # the verdict in the words every surface uses, why on hover
            colour = "#b00020" if m["drifting"] else "#1b5e20"
            drift = (f'<a href="/drift?model={name}" title="{escape(m["why"] or "")}">'
                     f'<b class="wb-verdict" style="color:{colour}">{escape(m["verdict"])}</b>'
                     f"</a>, {escape(m['drift_at'] or '')}")
        shown.append([f'<a href="/promotion?model={name}">{escape(m["model"])}</a>',
                      f"v{escape(str(m['champion']))}" if m["champion"] else "none",
                      str(m["pending"]), drift])
    return _table(["model", "champion", "pending", "drift"], shown,
                  "No models yet: promote one, or check drift with workbench monitor.")


def pipelines(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return ""
    shown = []
    for p in rows:
        if p.get("error"):
            shown.append([escape(p["name"]), banner(False, p["error"]), "", ""])
            continue
        last = (f"{escape(p['last_status'] or '')} {escape(p['last_run'] or '')}"
                if p.get("last_run") else "never run")
        shown.append([escape(p["name"]), last, escape(p.get("schedule") or "manual"),
                      escape(p.get("next_run") or "-")])
    return _table(["pipeline", "last run", "schedule", "next slot"], shown,
                  "No pipelines: wb.pipeline.create(...) writes pipelines/NAME.yaml.")


def page(reading: Any) -> str:
    data, errors = reading.data, reading.errors
    return STYLE + "".join([
        part("Cluster", cluster(data.get("cluster")), errors.get("cluster")),
        part("Training now", running(data.get("running")), errors.get("running")),
        part("Models", models(data.get("models")), errors.get("models")),
        part("Pipelines", pipelines(data.get("pipelines")), errors.get("pipelines"))])
