"""Evidently run the way a user runs it (its own type inference, no help from workbench)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pandas as pd

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame
                       ) -> dict[str, tuple[str, float, float, bool]]:
    """column -> (method, score, threshold, drifted) from a plain DataDriftPreset report."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    data: dict[str, Any] = json.loads(snapshot.json())
    found: dict[str, dict[str, Any]] = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"] == VALUE_DRIFT:
            found[config["column"]] = {"method": config["method"], "score": metric["value"],
                                       "threshold": config["threshold"]}
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        if params["type"] == VALUE_DRIFT:
            found[params["column"]]["drifted"] = test["status"] == "FAIL"
    return {c: (v["method"], float(v["score"]), float(v["threshold"]), v["drifted"])
            for c, v in found.items()}
