"""Which files a governing tracking server reads for data gates: only those under the folders
its operator named in WORKBENCH_DATA_ROOTS (os.pathsep-separated), resolved, so no caller
makes the server read, or report on, any other file it can open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

ROOTS = "WORKBENCH_DATA_ROOTS"


def roots() -> list[Path]:
    return [Path(p).resolve() for p in os.environ.get(ROOTS, "").split(os.pathsep) if p]


def readable(path: Any) -> str | None:
    """`path` resolved, when it lies under a data root; None for None; else ConfigError."""
    if path in (None, ""):
        return None
    resolved = Path(str(path)).resolve()
    allowed = roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        where = ", ".join(map(str, allowed)) or "none are set"
        raise ConfigError(f"the tracking server reads data only under {ROOTS} ({where}); "
                          f"{resolved} is outside: put the data there, or ask its operator "
                          "to add the folder")
    return str(resolved)


def check_gate_paths(gates: dict[str, Any] | None) -> None:
    """Every path a policy's gates name must be readable by the rule above."""
    if not gates:
        return
    for path in [gates.get("drift_data")] + [b.get("data") for b in gates.get("beats", [])]:
        readable(path)
