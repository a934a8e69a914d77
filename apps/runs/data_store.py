"""What the runs dashboard shows, read through the workbench API (no panel here): pages of runs
as frames, the runs picked for comparison, their curves, and artifacts ready to display."""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.runs import (
    RunsPage,
    artifact_bytes,
    experiments,
    metric_histories,
    run_detail,
    search_runs,
)

PAGE_SIZE = 50
MAX_POINTS = 1000  # per curve: what a chart a few hundred pixels wide can show
KEY_COLUMNS = 8  # params and metrics shown as table columns (all of them are in the detail)
BASE_COLUMNS = ["run_id", "name", "experiment", "status", "started", "duration_s"]


def experiment_names() -> list[str]:
    return [e["name"] for e in experiments()]


class Pager:
    """Walks the pages of one search: MLflow pages by opaque tokens, so the token of every
    page seen is kept to step back."""

    def __init__(self, experiment: str | None = None, filter: str = "",
                 status: str | None = None, page_size: int = PAGE_SIZE) -> None:
        self.experiment, self.filter, self.status = experiment, filter, status
        self.page_size = page_size
        self._tokens: list[str | None] = [None]  # token of page 1, 2, ...
        self.current = self._fetch(None)

    @property
    def number(self) -> int:
        return len(self._tokens)

    @property
    def has_next(self) -> bool:
        return self.current.next_token is not None

    def next(self) -> RunsPage:
        if self.current.next_token is not None:
            self._tokens.append(self.current.next_token)
            self.current = self._fetch(self.current.next_token)
        return self.current

    def previous(self) -> RunsPage:
        if len(self._tokens) > 1:
            self._tokens.pop()
            self.current = self._fetch(self._tokens[-1])
        return self.current

    def refresh(self) -> RunsPage:
        """The current page read again (its runs may have moved on)."""
        self.current = self._fetch(self._tokens[-1])
        return self.current

    def frame(self) -> pd.DataFrame:
        return page_frame(self.current.rows)

    def _fetch(self, token: str | None) -> RunsPage:
        names = [self.experiment] if self.experiment else None
        return search_runs(names, self.filter, status=self.status, page_token=token,
                           page_size=self.page_size)


def page_frame(rows: list[dict[str, Any]], key_columns: int = KEY_COLUMNS) -> pd.DataFrame:
    """One row per run: the run's attributes, then the first params and metrics (by name)
    that the page's runs have, as `params.<key>` and `metrics.<key>` columns."""
    params = sorted({k for r in rows for k in r["params"]})[:key_columns]
    metrics = sorted({k for r in rows for k in r["metrics"]})[:key_columns]
    records = [{**{c: r[c] for c in BASE_COLUMNS},
                **{f"params.{k}": r["params"].get(k) for k in params},
                **{f"metrics.{k}": r["metrics"].get(k) for k in metrics}} for r in rows]
    columns = BASE_COLUMNS + [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
    return pd.DataFrame(records, columns=columns)


def details(run_ids: list[str]) -> list[dict[str, Any]]:
    return [run_detail(run_id) for run_id in run_ids]


def params_side_by_side(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per param (the run names first), one column per run (its short id)."""
    keys = sorted({k for r in runs for k in r["params"]})
    columns = {_short(r["run_id"]): [r["name"], *(r["params"].get(k) for k in keys)]
               for r in runs}
    return pd.DataFrame({"param": ["run name", *keys], **columns})


def shared_metrics(runs: list[dict[str, Any]]) -> list[str]:
    """Metric names of the picked runs, those every run has first."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run["metrics"]:
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def curves(run_ids: list[str], keys: list[str]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    return metric_histories(run_ids, keys, max_points=MAX_POINTS)


def artifact_document(run_id: str, path: str) -> tuple[str, str]:
    """(kind, text) of an artifact to show: "html" (an HTML artifact, or a notebook rendered by
    nbconvert: a whole document, shown sandboxed) or "text"; binary files say so."""
    content = artifact_bytes(run_id, path)
    if path.endswith((".html", ".htm")):
        return "html", content.decode("utf-8", errors="replace")
    if path.endswith(".ipynb"):
        return "html", notebook_html(content)
    try:
        return "text", content.decode("utf-8")
    except UnicodeDecodeError:
        return "text", f"{path}: {len(content)} bytes of binary data (download it with "\
            "`mlflow artifacts download`)"


def notebook_html(content: bytes) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.reads(content.decode("utf-8"), as_version=4)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return str(html)


def _short(run_id: str) -> str:
    return run_id[:8]


