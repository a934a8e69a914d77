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
        numerical_columns=[p.column for p in plans if p.column_type == "numerical"],
        categorical_columns=[p.column for p in plans if p.column_type == "categorical"],
        text_columns=[], datetime_columns=[])
    columns = [p.column for p in plans]
    report = Report([DataDriftPreset(columns=columns, drift_share=drift_share)],
                    include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy/pandas warnings from inside Evidently
        return report.run(Dataset.from_pandas(current[columns], data_definition=definition),
                          Dataset.from_pandas(reference[columns], data_definition=definition))


def column_verdicts(snapshot: Any) -> dict[str, tuple[str, float, float, bool]]:
    """column -> (method display name, score, threshold, drifted) from a snapshot."""
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
    return {c: (v["method"], v["score"], v["threshold"], bool(v["drifted"]))
            for c, v in found.items()}


def report_html(snapshot: Any, banner: str | None = None) -> str:
    """The snapshot as one standalone HTML document, with an optional banner on top."""
    document = str(snapshot.get_html_str(as_iframe=False))
    if banner:
        at = document.find(">", document.find("<body")) + 1
        document = document[:at] + banner + document[at:]
    return document
