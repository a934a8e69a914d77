"""The project's layout: where pipeline specs live, and paths checked to lie inside it."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ConfigError

PIPELINES_DIR = "pipelines"


def project_path(path: str | Path, root: Path) -> Path:
    """`path` resolved, and checked to lie inside the project: specs name notebooks relative
    to the project root so they run the same from any clone."""
    resolved = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(f"{resolved} is outside the project {root}; pipelines run notebooks "
                          "from the project only: copy it in")
    return resolved
