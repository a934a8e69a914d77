"""What the index page shows: the apps, the tracking store and the cluster (no panel here)."""

from __future__ import annotations

from dataclasses import dataclass

import workbench as wb


@dataclass(frozen=True)
class App:
    route: str
    title: str
    what: str


APPS = (
    App("/cockpit", "Cockpit", "one live page: the cluster, what trains now, each model's "
                               "champion and drift, the pipelines' last runs and next slots"),
    App("/runs", "Runs", "experiments and runs: search, compare curves and params, artifacts"),
    App("/training", "Training", "launch a run or a sweep of the demo or the project's train "
                                 "function, watch its curves grow, cancel it"),
    App("/drift", "Drift", "per model: the newest verdict and the signal that fired, the drift "
                           "share, prediction drift and performance over time, each column, "
                           "the report, new checks"),
    App("/promotion", "Promotion", "champions, pending requests, approve, decline, roll back, "
                                   "the verified history"),
)


def where() -> dict[str, str]:
    """The tracking store and the cluster this server uses, passwords masked."""
    from workbench.tracking.store import display_uri

    current = wb.settings()
    store = display_uri(current.tracking_uri)
    if current.embedded_store:
        store += " (embedded SQLite)"
    cluster = (display_uri(current.scheduler) if current.scheduler
               else "a local Dask cluster, started when work needs one")
    return {"store": store, "cluster": cluster}
