"""The `workbench` command. Data goes to stdout (`--json`: one object), logs and bars to stderr.

Each module registers one group of commands on `cli`.
"""

from __future__ import annotations

from workbench.cli import (
    drift,
    governance,
    migrate,
    pipelines,
    project,
    promotion,
    servers,
    services,
    training,
)
from workbench.cli.base import cli

__all__ = ["cli", "drift", "governance", "main", "migrate", "pipelines", "project",
           "promotion", "servers", "services", "training"]


def main() -> None:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for logs
    cli(prog_name="workbench")

