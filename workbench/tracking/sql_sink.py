"""A bulk metric sink for SQL tracking stores (the embedded SQLite one included).

MLflow's `log_batch` builds one ORM object per point and spends most of its time in SQLAlchemy's
unit of work (~10k points/s here). This sink writes the same rows to the same tables through
MLflow's own table definitions with one executemany insert per batch and one latest-metric
upsert per key, in a single transaction. The rows are exactly what `log_batch` writes (NaN/inf
sanitised the same way; the latest metric is the greatest (step, timestamp, value)); any error
rolls the batch back and falls back to `log_batch`, so a schema MLflow changes in a future
release costs speed, never data.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from workbench.tracking.writer import Point, Sink

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def sql_bulk_sink(client: MlflowClient, tracking_uri: str, run_id: str, fallback: Sink) -> Sink:
    """The bulk sink when `tracking_uri` is a SQL store MLflow reaches directly, else `fallback`."""
    if tracking_uri.split(":", 1)[0].split("+", 1)[0] not in SQL_SCHEMES:
        return fallback
    store = client._tracking_client.store
    try:
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return fallback
    if not isinstance(store, SqlAlchemyStore):
        return fallback
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import IntegrityError

    state = {"bulk": True}

    def write(points: list[Point]) -> None:
        if state["bulk"]:
            try:
                _bulk_write(store, SqlMetric, SqlLatestMetric, run_id, points)
                return
            except Exception as exc:
                if isinstance(exc.__cause__, IntegrityError) or isinstance(exc, IntegrityError):
                    pass  # points identical to stored ones: log_batch skips those
                elif isinstance(exc, MlflowException) and "active" in str(exc):
                    raise  # the run was deleted; log_batch would refuse it too
                else:  # e.g. a schema change in a future MLflow: slower, never lossy
                    state["bulk"] = False
                    log.warning("bulk metric writes disabled, using log_batch: %s", exc)
        fallback(points)

    return write


def _bulk_write(store: Any, metric_table: Any, latest_table: Any, run_id: str,
                points: list[Point]) -> None:
    from sqlalchemy import insert

    rows = []
    latest: dict[str, dict[str, Any]] = {}
    seen = set()
    for p in points:
        identity = (p.key, p.value, p.timestamp, p.step)
        if identity in seen:  # log_batch drops exact duplicates within a batch too
            continue
        seen.add(identity)
        is_nan, value = store.sanitize_metric_value(p.value)
        row = {"run_uuid": run_id, "key": p.key, "value": value, "timestamp": p.timestamp,
               "step": p.step, "is_nan": is_nan}
        rows.append(row)
        best = latest.get(p.key)
        if best is None or _order(row) > _order(best):
            latest[p.key] = row
    with store.ManagedSessionMaker(read_only=False) as session:
        store._check_run_is_active(store._get_run(run_uuid=run_id, session=session))
        session.execute(insert(metric_table.__table__), rows)
        stored = {m.key: m for m in session.query(latest_table).filter(
            latest_table.run_uuid == run_id, latest_table.key.in_(list(latest)))}
        for key, row in latest.items():
            old = stored.get(key)
            if old is None:
                session.add(latest_table(**row))
            elif _order(row) > (old.step, old.timestamp, old.value):
                old.value, old.step = row["value"], row["step"]
                old.timestamp, old.is_nan = row["timestamp"], row["is_nan"]
        session.commit()


def _order(row: dict[str, Any]) -> tuple[int, int, float]:
    return (row["step"], row["timestamp"], row["value"])
