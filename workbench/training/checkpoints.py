"""Checkpoints in the run's MLflow artifacts, written off the training thread.

`ctx.checkpoint(state)` costs the loop one CPU copy of the state; a background thread flushes the
run's metrics, saves, uploads and prunes. At most one checkpoint waits: a newer one replaces a
waiting older one, so a slow store never queues up copies of the model. Files are numbered and
written whole before the older ones are pruned, and restore falls back to the previous file if
the newest was cut short by a dying worker.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
KEEP = 2
_NAME = re.compile(r"ckpt-(\d{8})\.pt$")


def snapshot(value: Any) -> Any:
    """A copy of `value` that later training steps cannot change: tensors cloned to CPU."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return type(value)((k, snapshot(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value)
    return value


class CheckpointStore:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self._client = client
        self._run_id = run_id
        self._repo: Any = None
        self._written: list[int] = []

    def write(self, seq: int, step: int, state: Any) -> None:
        import torch

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"ckpt-{seq:08d}.pt"
            torch.save({"seq": seq, "step": step, "state": state}, path)
            self._artifacts().log_artifact(str(path), CHECKPOINT_DIR)
        self._written.append(seq)
        self._prune()

    def latest(self, device: Any) -> dict[str, Any] | None:
        """The newest readable checkpoint ({seq, step, state}), or None."""
        import torch

        for name in sorted(self._names(), reverse=True):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    local = self._client.download_artifacts(self._run_id,
                                                            f"{CHECKPOINT_DIR}/{name}", tmp)
                    # weights_only: tensors and plain containers only, never arbitrary objects
                    return dict(torch.load(local, weights_only=True, map_location=device))
                except Exception:
                    log.warning("checkpoint %s unreadable, trying an older one", name)
        return None

    def _names(self) -> list[str]:
        try:
            found = self._client.list_artifacts(self._run_id, CHECKPOINT_DIR)
        except Exception:
            return []
        return [Path(a.path).name for a in found if _NAME.search(a.path)]

    def _artifacts(self) -> Any:
        if self._repo is None:
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            self._repo = get_artifact_repository(
                self._client.get_run(self._run_id).info.artifact_uri)
        return self._repo

    def _prune(self) -> None:
        """Delete what this writer wrote before the newest KEEP (older attempts' files stay)."""
        stale, self._written = self._written[:-KEEP], self._written[-KEEP:]
        for seq in stale:
            try:
                self._artifacts().delete_artifacts(f"{CHECKPOINT_DIR}/ckpt-{seq:08d}.pt")
            except Exception:  # stores without delete keep them; restore reads the newest
                return


class BackgroundCheckpointer:
    """One thread that writes the latest submitted checkpoint; `wait()` drains it."""

    def __init__(self, write: Callable[[int, int, Any], None],
                 before_write: Callable[[], None] | None = None) -> None:
        self._write = write
        self._before_write = before_write
        self._cv = threading.Condition()
        self._pending: tuple[int, int, Any] | None = None
        self._busy = False
        self._closed = False
        self.error: BaseException | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="workbench-checkpointer",
                                        daemon=True)
        self._thread.start()

    def submit(self, seq: int, step: int, state: Any) -> None:
        with self._cv:
            if self.error is not None:
                raise RuntimeError(f"writing a checkpoint failed: {self.error}") from self.error
            self._pending = (seq, step, state)
            self._cv.notify_all()

    def wait(self, timeout: float | None = 300.0) -> None:
        with self._cv:
            done = self._cv.wait_for(lambda: (self._pending is None and not self._busy)
                                     or self.error is not None, timeout=timeout)
            if self.error is not None:
                raise RuntimeError(f"writing a checkpoint failed: {self.error}") from self.error
            if not done:
                raise TimeoutError(f"checkpoint not stored within {timeout}s")

    def close(self) -> None:
        self.wait()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                item, self._pending, self._busy = self._pending, None, True
            try:
                if self._before_write is not None:
                    self._before_write()  # metrics up to this step are stored first
                self._write(*item)
                self.written += 1
            except BaseException as exc:
                self.error = exc
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
