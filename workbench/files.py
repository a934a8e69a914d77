"""Writing files a user or a tool reads: all of it or nothing, never a half-written file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(target: Path, text: str,
                     check: Callable[[Path], Any] | None = None) -> Path:
    """Write `text` beside `target`, run `check` on it, then rename it into place.

    A failed write or check removes the temporary file and leaves `target` as it was.
    """
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        if check is not None:
            check(partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
