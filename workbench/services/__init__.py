"""`workbench services`: the shared services a team (or a test) runs on loopback, past the
embedded defaults: PostgreSQL, an MLflow tracking server on it with basic auth and proxied
artifacts, and a dask scheduler with worker processes. State lives in
`$WORKBENCH_HOME/services/`; the workbench itself only ever sees the environment `up` prints."""

from workbench.services.stack import ServiceError, down, environment, status, up

__all__ = ["ServiceError", "down", "environment", "status", "up"]
