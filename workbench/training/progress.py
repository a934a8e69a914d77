"""Live progress for a running job: a tqdm bar (a widget in Jupyter, text in a terminal).

Fed by progress events that workers publish; updated from the dask client's event thread, so the
bar moves while the notebook does other things. In marimo, whose outputs cannot be updated from a
background thread, the bar is drawn with marimo's own progress bar while `.result()` waits.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any


def in_marimo() -> bool:
    if "marimo" not in sys.modules:
        return False
    try:
        import marimo

        return bool(marimo.running_in_notebook())
    except Exception:
        return False


def format_metrics(metrics: Mapping[str, float], limit: int = 4) -> str:
    items = list(metrics.items())[:limit]
    return " ".join(f"{k}={v:.4g}" for k, v in items)


class ProgressBar:
    """One tqdm bar; `update` is safe to call from any thread."""

    def __init__(self, description: str, total: int | None = None, unit: str = "step",
                 enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled and not in_marimo():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, unit=unit, leave=True,
                             file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, total: int | None, metrics: Mapping[str, float],
               state: str | None = None) -> None:
        if self._bar is None:
            return
        with self._lock:
            if total is not None and self._bar.total != total:
                self._bar.total = total
            self._bar.n = max(0, done)
            postfix = format_metrics(metrics)
            if state and state not in ("running", "pending"):
                postfix = f"{state} {postfix}".strip()
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def marimo_wait(futures: list[Any], describe: Any, total: int, title: str) -> None:
    """Block until `futures` finish, drawing marimo's progress bar from the calling thread."""
    import time

    import marimo as mo

    with mo.status.progress_bar(total=max(total, 1), title=title) as bar:
        shown = 0
        while not all(f.done() for f in futures):
            done, subtitle = describe()
            if done > shown:
                bar.update(increment=done - shown, subtitle=subtitle)
                shown = done
            time.sleep(0.25)
