"""One verdict per drift check, read from what the check recorded, for every surface (Lab's
sidebar and drift tab, the /drift and /cockpit dashboards) to show the same words.

A check is judged at the threshold it recorded (`drift.drift_share`: the model's policy
threshold for `wb.monitor` / `wb.check_drift`), never at today's spec. A monitor's check names
the signals that fired (tag `workbench.fired`, "" when none); a plain `wb.drift(...).log(
model=...)` check has no signals, and its verdict is its data drift: share >= threshold.

Pure: no store reads here. The callers hand over the run's tags, metrics and params (which one
run search returns), so a page of models costs no read per model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.monitoring.history import FIRED_TAG

DEFAULT_THRESHOLD = 0.5  # DriftResult's drift_share when none was recorded
THRESHOLD_PARAM = "drift.drift_share"
SHARE_METRIC = "drift.share"
SIGNAL_PREFIX = "signal."


def number(value: float) -> str:
    """A share or threshold as every surface writes it: 2 decimals, no trailing zeros
    (0.14 -> "0.14", 0.5 -> "0.5", 1/3 -> "0.33", 1.0 -> "1")."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return str(value)
    return f"{round(float(value), 2):g}"


def recorded_threshold(params: Mapping[str, Any] | None,
                       result: Mapping[str, Any] | None = None) -> float:
    """The threshold the check was judged at: its result's `drift_share`, else its param,
    else DriftResult's default."""
    for found in ((result or {}).get("drift_share"), (params or {}).get(THRESHOLD_PARAM)):
        try:
            value = float(found)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            return value
    return DEFAULT_THRESHOLD


def signal_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """signal name -> its recorded value (`signal.<name>.value`)."""
    return {key[len(SIGNAL_PREFIX):-len(".value")]: float(value)
            for key, value in metrics.items()
            if key.startswith(SIGNAL_PREFIX) and key.endswith(".value")
            and _finite(value)}


def verdict(*, share: float, threshold: float, fired: str | Sequence[str] | None,
            values: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The verdict of one check: `state` ("fired" / "stable"), `fired` (the signal names),
    `share` and `threshold` (the one recorded), `drifting` (state is "fired"), `why` (each
    fired signal with its value, and the drift share against the threshold) and `text` (the
    line every surface shows: "performance fired · drift 0.14 / threshold 0.5").

    `fired`: the check's recorded signals (the tag's text, or a list); None for a plain check
    with no signals, whose verdict is its data drift."""
    share = float(share) if _finite(share) else 0.0
    values = dict(values or {})
    if fired is None:
        names = ["data_drift"] if share >= threshold else []
    elif isinstance(fired, str):
        names = [n.strip() for n in fired.split(",") if n.strip()]
    else:
        names = [str(n) for n in fired]
    values.setdefault("data_drift", share)
    against = f"drift {number(share)} / threshold {number(threshold)}"
    state = "fired" if names else "stable"
    said = [f"{name} fired" + (f" ({_value(name, values[name])})" if name in values else "")
            for name in names]
    if "data_drift" in names:
        said[names.index("data_drift")] = (f"data_drift fired: drift share {number(share)} at "
                                           f"or over the threshold {number(threshold)}")
    else:
        said.append(f"drift share {number(share)} under the threshold {number(threshold)}")
    why = "; ".join(said) if names else "nothing fired: " + "; ".join(said)
    return {"state": state, "fired": names, "share": share, "threshold": threshold,
            "drifting": bool(names), "why": why,
            "text": f"{', '.join(names)} fired · {against}" if names else f"stable · {against}"}


def of_run(tags: Mapping[str, Any], metrics: Mapping[str, Any], params: Mapping[str, Any],
           result: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The verdict of a check from its run's tags, metrics and params (and its stored result,
    when it was read: its share and threshold are the check's own)."""
    share = (result or {}).get("share", metrics.get(SHARE_METRIC, 0.0))
    return verdict(share=float(share), threshold=recorded_threshold(params, result),
                   fired=tags.get(FIRED_TAG), values=signal_values(metrics))


def check_signals(recorded: Sequence[Mapping[str, Any]] | None, judged: Mapping[str, Any],
                  result: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The signals of a check as the pages list them (name, fired, value, threshold, detail):
    those a monitor recorded (`monitor/signals.json`), else the one a plain check has, its
    data drift, made from its verdict and result."""
    if recorded:
        return [{"name": str(s.get("name", "")), "fired": bool(s.get("fired")),
                 "value": s.get("value"), "threshold": str(s.get("threshold") or ""),
                 "detail": str(s.get("detail") or "")} for s in recorded]
    columns = (result or {}).get("columns") or {}
    drifted = (result or {}).get("drifted_columns") or []
    return [{"name": "data_drift", "fired": "data_drift" in judged["fired"],
             "value": judged["share"], "threshold": f">= {number(judged['threshold'])}",
             "detail": f"{len(drifted)} of {len(columns)} columns drifted"
             if result else f"drift share {number(judged['share'])}"}]


def _value(name: str, value: float) -> str:
    return f"drift share {number(value)}" if name == "data_drift" else f"{value:.4g}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
