"""The tracking server's credentials travel with the work: a dask worker logs runs for the
person who submitted them, though it was started without their login (a shared cluster, or
one started before MLFLOW_TRACKING_USERNAME was set). MLflow reads them from the
environment at each request, so a worker adopts them there before it talks to the store."""

from __future__ import annotations

import os

VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def forwarded() -> dict[str, str]:
    """This process's login to the tracking server, to hand to the tasks it submits."""
    return {name: os.environ[name] for name in VARIABLES if os.environ.get(name)}


def adopt(auth: dict[str, str] | None) -> None:
    """Use the submitter's login in this (worker) process. A worker runs one task at a time
    (one thread, as workbench starts them): a later task's login replaces it."""
    for name, value in (auth or {}).items():
        if name in VARIABLES:
            os.environ[name] = value
