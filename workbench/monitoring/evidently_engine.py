"""Evidently itself: the reference engine, and the HTML report a person reads.

Columns are typed by workbench (Evidently's own rules, see `stats.infer_type`) and handed to
Evidently explicitly, so both engines test exactly the same columns as the same types.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from workbench.monitoring.stats import ColumnPlan

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def run_report(reference: pd.DataFrame, current: pd.DataFrame, plans: list[ColumnPlan],
               drift_share: float) -> Any:
    """Evidently's `DataDriftPreset` on the planned columns; returns its snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[safe_text(p.column) for p in plans if p.column_type == "numerical"],
        categorical_columns=[safe_text(p.column) for p in plans
                             if p.column_type == "categorical"],
        text_columns=[], datetime_columns=[])
    columns = [p.column for p in plans]
    report = Report([DataDriftPreset(columns=[safe_text(c) for c in columns],
                                     drift_share=drift_share)], include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy/pandas warnings from inside Evidently
        return report.run(
            Dataset.from_pandas(_safe_frame(current[columns]), data_definition=definition),
            Dataset.from_pandas(_safe_frame(reference[columns]), data_definition=definition))


def safe_text(text: str) -> str:
    """`text` that cannot close the <script> Evidently embeds its data in, unescaped: a column
    name or category like `</script><script>...` would otherwise run in the viewer's page."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    out = frame.rename(columns=safe_text)
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            categories = values.cat.categories
            if categories.dtype == object and any("<" in str(c) or ">" in str(c)
                                                  for c in categories):
                out[column] = values.cat.rename_categories(
                    [safe_text(c) if isinstance(c, str) else c for c in categories])
        elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            texts = values.astype("string")
            if bool(texts.str.contains("[<>]", regex=True).any()):
                out[column] = values.map(lambda v: safe_text(v) if isinstance(v, str) else v)
    return out


def column_verdicts(snapshot: Any, columns: list[str]) -> dict[str, tuple[str, float, float, bool]]:
    """column -> (method display name, score, threshold, drifted) from a snapshot."""
    original = {safe_text(c): c for c in columns}
    data = json.loads(snapshot.json())
    found: dict[str, dict[str, Any]] = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config.get("type") == VALUE_DRIFT:
            found[config["column"]] = {"method": config["method"], "score": float(metric["value"]),
                                       "threshold": float(config["threshold"])}
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type") == VALUE_DRIFT and params["column"] in found:
            found[params["column"]]["drifted"] = test["status"] == "FAIL"  # FAIL = drift
    return {original.get(c, c): (v["method"], v["score"], v["threshold"], bool(v["drifted"]))
            for c, v in found.items()}


def report_html(snapshot: Any, banner: str | None = None) -> str:
    """The snapshot as one standalone HTML document, with an optional banner on top."""
    document = str(snapshot.get_html_str(as_iframe=False))
    if banner:
        at = document.find(">", document.find("<body")) + 1
        document = document[:at] + banner + document[at:]
    return document
