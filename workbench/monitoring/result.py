"""What a drift check found: per-column verdicts, the dataset verdict, the report a person reads."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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

    def _repr_html_(self) -> str:
        if not self.columns:  # nothing was tested, so Evidently has nothing to show
            skipped = html.escape(str(self.skipped))
            return f"<p>{html.escape(self.summary())}; skipped: {skipped}</p>"
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

        if not self.columns:
            return mo.Html(self._repr_html_())
        return mo.iframe(self.to_html(), height=f"{REPORT_HEIGHT_PX}px")

    def summary(self) -> str:
        verdict = "drift detected" if self.drifted else "no dataset drift"
        text = (f"{verdict}: {len(self.drifted_columns)} of {len(self.columns)} columns drifted "
                f"(share {self.share:.2f}, threshold {self.drift_share}); engine {self.engine}")
        return text + (f"; {self.performance.summary()}" if self.performance else "")

    def __repr__(self) -> str:
        return f"<DriftResult {self.summary()}>"

    def log(self, run_id: str | None = None, *, model: str | None = None,
            version: str | int | None = None, experiment: str | None = None) -> str:
        """Store the report (HTML + JSON) and the scores in MLflow; returns the run id.

        With `run_id`, they go to that run. With `model` (and optionally `version`), a new run in
        the monitoring experiment records the check, for `wb.drift_history(model)`.
        """
        from workbench.monitoring.history import log_result

        return log_result(self, run_id=run_id, model=model, version=version,
                          experiment=experiment)
