"""What a drift check found: per-column verdicts, the dataset verdict, the report a person reads."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_HEIGHT_PX = 1000


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict: Evidently's test, its score (p-value or distance) and threshold."""

    column: str
    column_type: str  # "numerical" or "categorical"
    stattest: str  # Evidently's name: ks, z, chisquare, jensenshannon, wasserstein
    method: str  # Evidently's display name, e.g. "K-S p_value"
    score: float
    threshold: float
    drifted: bool
    score_error_bound: float = 0.0  # > 0 only for the dask engine's Wasserstein distance


@dataclass
class DriftResult:
    columns: dict[str, ColumnDrift]
    skipped: dict[str, str]  # column -> why it was not tested (text, id-like, all null, ...)
    drift_share: float  # the dataset drifts when at least this share of columns drift
    engine: str  # "evidently" or "dask"
    reference_rows: int
    current_rows: int
    reference_source: str = ""
    current_source: str = ""
    performance: Any = None  # a PerformanceDrift when labels and predictions were given
    # builds Evidently's HTML report (on a seeded sample for large data); set by the engine
    _render: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    _html: str | None = field(default=None, repr=False, compare=False)

    @property
    def drifted_columns(self) -> list[str]:
        return [c for c, d in self.columns.items() if d.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.columns) and self.share >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "engine": self.engine,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference": self.reference_source,
            "current": self.current_source,
            "columns": {c: asdict(d) for c, d in self.columns.items()},
            "skipped": dict(self.skipped),
            "performance": self.performance.to_dict() if self.performance else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    def to_html(self) -> str:
        """Evidently's own standalone HTML report (works offline; ~5 MB for 20 columns)."""
        if self._html is None:
            if not self.columns:
                from workbench.errors import ConfigError

                raise ConfigError("no column could be tested, so there is no report; see "
                                  f"result.skipped: {self.skipped}")
            if self._render is None:
                raise RuntimeError("this result has no data to build a report from")
            self._html = self._render()
        return self._html

    def report(self) -> DriftReport:
        """Evidently's full report, shown inline when it is a cell's value (~5 MB in the
        notebook for 20 columns; `.save(path)` writes it to a file instead)."""
        if not self.columns:
            self.to_html()  # raises: nothing was tested, so there is no report
        return DriftReport(self)

    def _repr_html_(self) -> str:
        # A compact summary (a few KB): the full report inlined would add megabytes to every
        # saved notebook. Every value is escaped: column names and categories are data.
        return summary_html(self)

    def _display_(self) -> Any:
        import marimo as mo

        return mo.Html(self._repr_html_())

    def summary(self) -> str:
        verdict = "drift detected" if self.drifted else "no dataset drift"
        text = (f"{verdict}: {len(self.drifted_columns)} of {len(self.columns)} columns drifted "
                f"(share {self.share:.2f}, threshold {self.drift_share}); engine {self.engine}")
        return text + (f"; {self.performance.summary()}" if self.performance else "")

    def __repr__(self) -> str:
        return f"<DriftResult {self.summary()}>"

    def log(self, run_id: str | None = None, *, model: str | None = None,
            version: str | int | None = None, experiment: str | None = None,
            signals: list[dict[str, Any]] | None = None) -> str:
        """Store the report (HTML + JSON) and the scores in MLflow; returns the run id.

        With `run_id`, they go to that run. With `model` (and optionally `version`), a new run in
        the monitoring experiment records the check, for `wb.drift_history(model)`. `signals`
        (a monitor's: data, input and prediction drift, performance) are recorded with it.
        """
        from workbench.monitoring.history import log_result

        return log_result(self, run_id=run_id, model=model, version=version,
                          experiment=experiment, signals=signals)


class DriftReport:
    """Evidently's standalone report of a DriftResult, for a notebook cell or a file."""

    def __init__(self, result: DriftResult) -> None:
        self._result = result

    def to_html(self) -> str:
        return self._result.to_html()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as one HTML page (whole or not at all); returns its path."""
        from workbench.files import write_atomically

        return Path(write_atomically(Path(path).expanduser().resolve(), self.to_html()))

    def _repr_html_(self) -> str:
        # The report inside an iframe's srcdoc: its scripts run in Jupyter and marimo alike
        # (neither runs <script> tags placed straight into a cell's output).
        # sandbox: the report's scripts run, in an origin of their own, away from the notebook
        return (f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
                f'sandbox="allow-scripts" style="width:100%;height:{REPORT_HEIGHT_PX}px;border:0" '
                f'title="Evidently data drift report"></iframe>')

    def _display_(self) -> Any:
        # marimo: the report as a virtual file in an iframe. Inline srcdoc (escaped, ~10 MB)
        # would pass marimo's 5 MB output limit and show an "output too large" notice instead.
        import marimo as mo

        return mo.iframe(self.to_html(), height=f"{REPORT_HEIGHT_PX}px")

    def __repr__(self) -> str:
        return f"<DriftReport {self._result.summary()}>"


def summary_html(result: DriftResult) -> str:
    """The verdict, the share and one row per tested column, as a small HTML table."""
    esc = html.escape
    verdict = "drift detected" if result.drifted else "no dataset drift"
    colour = "#b00020" if result.drifted else "#1b5e20"
    rows = "".join(
        f"<tr><td>{esc(d.column)}</td><td>{esc(d.column_type)}</td><td>{esc(d.method)}</td>"
        f"<td>{_number(d.score, d.score_error_bound)}</td><td>{_number(d.threshold)}</td>"
        f"<td>{'<b>yes</b>' if d.drifted else 'no'}</td></tr>"
        for d in result.columns.values())
    table = ("<table><thead><tr><th>column</th><th>type</th><th>test</th><th>score</th>"
             f"<th>threshold</th><th>drifted</th></tr></thead><tbody>{rows}</tbody></table>"
             if result.columns else "")
    skipped = "".join(f"<li>{esc(c)}: {esc(why)}</li>" for c, why in result.skipped.items())
    parts = [
        f'<p><b style="color:{colour}">{esc(verdict)}</b>: {len(result.drifted_columns)} of '
        f"{len(result.columns)} columns drifted (share {result.share:.2f}, dataset drifts at "
        f"{esc(str(result.drift_share))}); engine {esc(result.engine)}, "
        f"{result.reference_rows:,} reference rows, {result.current_rows:,} current rows</p>",
        table,
        f"<p>skipped:</p><ul>{skipped}</ul>" if skipped else "",
        f"<p>{esc(result.performance.summary())}</p>" if result.performance else "",
        "<p><small>Evidently's full report: <code>result.report()</code> shows it inline, "
        "<code>result.report().save(\"drift.html\")</code> writes it to a file, "
        "<code>result.log(...)</code> stores it in MLflow.</small></p>" if result.columns else "",
    ]
    return f'<div class="workbench-drift">{"".join(parts)}</div>'


def _number(value: float, bound: float = 0.0) -> str:
    text = f"{value:.4g}"
    return f"{text} &plusmn; {bound:.2g}" if bound > 0 else text
