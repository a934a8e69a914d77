"""Metric points a run could not write, kept in a file beside the worker's store until the
store is back: `workbench replay-metrics FILE` writes them to their run.

One JSON line per point; the file is named after its run. Replaying skips the points the run
already holds (by key and step), so a file replayed twice, or holding points a late retry
wrote after all, adds nothing twice.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from workbench.errors import ConfigError
from workbench.tracking.writer import MAX_BATCH, Point

FOLDER = "unwritten-metrics"


def keep(points: Iterable[Point], run_id: str) -> str:
    """Append `points` to this host's file for `run_id`; where it is (host:path)."""
    from workbench.config import settings

    path = settings().home / FOLDER / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for point in points:
            out.write(json.dumps(asdict(point)) + "\n")
    return f"{socket.gethostname()}:{path}"


def replay(path: Path) -> tuple[str, int, int]:
    """Write the points of `path` to its run: (run id, points written, points it held)."""
    from mlflow.entities import Metric

    from workbench.tracking.store import tracking_client

    run_id = path.name.removesuffix(".jsonl")
    if not path.is_file() or not path.name.endswith(".jsonl"):
        raise ConfigError(f"{path} is not a file of unwritten metrics (RUN_ID.jsonl under "
                          f"$WORKBENCH_HOME/{FOLDER})")
    try:
        points = [Point(**json.loads(line)) for line in path.read_text().splitlines() if line]
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a file of unwritten metrics ({exc})") from None
    client = tracking_client()
    held = {(p.key, p.step) for key in {p.key for p in points}
            for p in client.get_metric_history(run_id, key)}
    fresh = [p for p in points if (p.key, p.step) not in held]
    for start in range(0, len(fresh), MAX_BATCH):
        client.log_batch(run_id, metrics=[Metric(p.key, p.value, p.timestamp, p.step)
                                          for p in fresh[start:start + MAX_BATCH]])
    return run_id, len(fresh), len(points)
