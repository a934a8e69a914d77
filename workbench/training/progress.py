"""Live progress for a running job: one live output in Jupyter, a tqdm bar in a terminal.

Fed by progress events that workers publish; updated from the dask client's event thread, so the
display moves while the notebook does other things. In Jupyter the job's output is an ordinary
display (HTML with a text fallback) that is replaced in place as progress arrives, so a saved or
papermill-executed notebook keeps the final state (a widget would keep only its first frame:
its state is not saved with the outputs). In marimo, whose outputs cannot be updated from a
background thread, marimo's own progress bar is drawn while `.result()` waits.
"""

from __future__ import annotations

import html
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

UPDATE_S = 0.25  # at most this often a live output is re-published (a frontend repaints it)

Bundle = dict[str, str]  # mimetype -> content, e.g. text/html and text/plain


def in_marimo() -> bool:
    if "marimo" not in sys.modules:
        return False
    try:
        import marimo

        return bool(marimo.running_in_notebook())
    except Exception:
        return False


def in_jupyter() -> bool:
    """Running in a Jupyter kernel (Lab, Notebook, papermill): outputs can be updated later."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        return getattr(get_ipython(), "kernel", None) is not None
    except Exception:
        return False


def format_metrics(metrics: Mapping[str, float], limit: int = 4) -> str:
    items = list(metrics.items())[:limit]
    return " ".join(f"{k}={v:.4g}" for k, v in items)


def bar_html(done: int, total: int | None) -> str:
    """An HTML progress element: determinate when the total is known."""
    if total:
        return f'<progress value="{min(max(done, 0), total)}" max="{total}"></progress>'
    return "<progress></progress>"


def _current_cell() -> str:
    """The msg_id of the cell being executed (the kernel's current parent), or ""."""
    try:
        from IPython import get_ipython

        parent = get_ipython().kernel.get_parent()
        return str(parent.get("header", {}).get("msg_id", ""))
    except Exception:
        return ""


class LiveOutput:
    """One notebook output showing `render()`, re-published in place as it changes.

    Changes are published from a thread of its own (so a frontend repaints at most every
    UPDATE_S, whatever the event rate); `refresh_now()` publishes from the calling thread,
    which is how the final state reaches a notebook runner that records only what arrives
    while a cell is executing (papermill, nbclient)."""

    def __init__(self, render: Callable[[], Bundle]) -> None:
        self._render = render
        self.display_id = uuid.uuid4().hex
        self._cells: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def show(self) -> None:
        """Display it in the current cell, unless this cell shows it already."""
        from IPython.display import display

        cell = _current_cell()
        with self._lock:
            if cell and cell in self._cells:
                return
            self._cells.add(cell)
            display(self._render(), raw=True, display_id=self.display_id)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._follow, daemon=True,
                                                name=f"workbench-display-{self.display_id[:8]}")
                self._thread.start()

    def changed(self) -> None:
        self._changed.set()

    def refresh_now(self) -> None:
        with self._lock:
            if not self._cells:
                return
            from IPython.display import update_display

            update_display(self._render(), raw=True, display_id=self.display_id)

    def close(self) -> None:
        """The final state: published now; no later updates."""
        self._closed = True
        self._changed.set()
        self.refresh_now()

    def _follow(self) -> None:
        while True:
            self._changed.wait()
            if self._closed:
                return
            self._changed.clear()
            try:
                self.refresh_now()
            except Exception:  # the kernel is shutting down
                return
            time.sleep(UPDATE_S)


class ProgressBar:
    """A job's progress: a live output in Jupyter (`render` draws it, else a plain bar), a tqdm
    bar on stderr elsewhere, nothing in marimo (see `marimo_wait`). `update` is safe to call
    from any thread."""

    def __init__(self, description: str, total: int | None = None, unit: str = "step",
                 enabled: bool = True, render: Callable[[], Bundle] | None = None) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        self.live: LiveOutput | None = None
        self._description, self._unit = description, unit
        self._done, self._total, self._postfix = 0, total, ""
        if in_marimo():
            return
        if in_jupyter():
            self.live = LiveOutput(render or self._bundle)
            if enabled:
                self.live.show()
        elif enabled:
            from tqdm import tqdm  # the text bar: tqdm.auto would pick a widget in a kernel

            self._bar = tqdm(total=total, desc=description, unit=unit, leave=True,
                             file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, total: int | None, metrics: Mapping[str, float],
               state: str | None = None) -> None:
        postfix = format_metrics(metrics)
        if state and state not in ("running", "pending"):
            postfix = f"{state} {postfix}".strip()
        with self._lock:
            self._done, self._total, self._postfix = max(0, done), total or self._total, postfix
            if self._bar is not None:
                if total is not None and self._bar.total != total:
                    self._bar.total = total
                self._bar.n = max(0, done)
                self._bar.set_postfix_str(postfix, refresh=False)
                self._bar.refresh()
        if self.live is not None:
            self.live.changed()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self.live is not None:
            self.live.close()

    def _bundle(self) -> Bundle:
        with self._lock:
            done, total, postfix = self._done, self._total, self._postfix
        count = f"{done}/{total}" if total else str(done)
        return {"text/plain": f"{self._description}: {count} {self._unit}s {postfix}".strip(),
                "text/html": f"<b>{html.escape(self._description)}</b> {bar_html(done, total)} "
                             f"{count} {html.escape(self._unit)}s {html.escape(postfix)}"}


def marimo_wait(futures: list[Any], describe: Any, total: int, title: str) -> None:
    """Block until `futures` finish, drawing marimo's progress bar from the calling thread."""
    import marimo as mo

    with mo.status.progress_bar(total=max(total, 1), title=title) as bar:
        shown = 0
        while not all(f.done() for f in futures):
            done, subtitle = describe()
            if done > shown:
                bar.update(increment=done - shown, subtitle=subtitle)
                shown = done
            time.sleep(0.25)
