"""`ctx`: what a train function gets on its dask worker."""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import JobCancelled

if TYPE_CHECKING:
    import torch
    from mlflow import MlflowClient

    from workbench.tracking.writer import MetricWriter

CHECKPOINT_DIR = "checkpoints"
_CKPT = re.compile(r"ckpt-(\d{8})\.pt$")
KEEP_CHECKPOINTS = 2


class Params(dict[str, Any]):
    """The run's parameters: `ctx.params["lr"]` or `ctx.params.lr`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; parameters: {', '.join(self)}") from None


class TrainContext:
    def __init__(
        self,
        *,
        run_id: str,
        params: Mapping[str, Any],
        data: Any,
        device: torch.device,
        seed: int,
        rank: int,
        world_size: int,
        client: MlflowClient,
        writer: MetricWriter | None,
        cancelled: threading.Event,
    ) -> None:
        self.run_id = run_id
        self.params = Params(params)
        self._data = data
        self.device = device
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.total_steps: int | None = None  # set it to size the progress bar
        self.input_example: Any = None  # set it to give the logged model a signature
        self._client = client
        self._writer = writer
        self._cancelled = cancelled
        self._step = -1
        self._ckpt_seq = -1
        self.resumed_from: int | None = None  # checkpoint number a resumed attempt started from

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def data(self) -> Any:
        from workbench.data import DataSource, load

        if isinstance(self._data, DataSource):
            self._data = load(self._data)
        return self._data

    def shard(self, frame: Any) -> Any:
        """This rank's share of `frame` (every world_size-th row), for data-parallel training."""
        return frame.iloc[self.rank :: self.world_size] if self.world_size > 1 else frame

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Queue metrics for MLflow; returns at once. Only rank 0's metrics are kept."""
        self._raise_if_cancelled()
        self._step = self._step + 1 if step is None else int(step)
        if self._writer is not None:
            self._writer.log(metrics, self._step)

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Persist `state` (tensors and plain values) to the run's artifacts; rank 0 only.

        Metrics logged so far are flushed first, so a resumed run never misses a step.
        """
        import torch

        self._raise_if_cancelled()
        if not self.is_main:
            return
        if self._writer is not None:
            self._writer.flush()
        self._ckpt_seq += 1
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"ckpt-{self._ckpt_seq:08d}.pt"
            torch.save({"seq": self._ckpt_seq, "step": self._step, "state": dict(state)}, path)
            self._client.log_artifact(self.run_id, str(path), CHECKPOINT_DIR)
        self._prune_checkpoints()

    def restore(self) -> Any:
        """The state of the last checkpoint this run wrote, or None on a fresh start."""
        import torch

        names = sorted((_CKPT.search(a.path) for a in self._list_checkpoints()),
                       key=lambda m: int(m.group(1)) if m else -1, reverse=True)
        for match in names:
            if match is None:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    local = self._client.download_artifacts(
                        self.run_id, f"{CHECKPOINT_DIR}/{match.group(0)}", tmp)
                    saved = torch.load(local, weights_only=True, map_location=self.device)
                except Exception:  # a checkpoint cut short by a dying worker: try the one before
                    continue
            self._ckpt_seq = int(saved["seq"])
            self._step = int(saved["step"])
            self.resumed_from = self._ckpt_seq
            return saved["state"]
        return None

    def _list_checkpoints(self) -> list[Any]:
        try:
            return list(self._client.list_artifacts(self.run_id, CHECKPOINT_DIR))
        except Exception:
            return []

    def _prune_checkpoints(self) -> None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        old = sorted(a.path for a in self._list_checkpoints() if _CKPT.search(a.path))
        stale = old[:-KEEP_CHECKPOINTS]
        if not stale:
            return
        repo = get_artifact_repository(self._client.get_run(self.run_id).info.artifact_uri)
        for path in stale:
            try:
                repo.delete_artifacts(path)
            except Exception:  # stores without delete keep them; correctness does not depend on it
                return

    def _raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled(f"run {self.run_id} was cancelled")
