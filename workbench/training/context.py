"""`ctx`: what a train function gets on its dask worker."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.errors import JobCancelled
from workbench.training.checkpoints import BackgroundCheckpointer, CheckpointStore, snapshot

if TYPE_CHECKING:
    import torch
    from mlflow import MlflowClient

    from workbench.tracking.writer import MetricWriter


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
        self._background: BackgroundCheckpointer | None = None

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
        """This rank's share of `frame` (every world_size-th row), for data-parallel training.

        Like torch's DistributedSampler, the last rows wrap around to the first ones so every
        rank gets the same number of rows, hence of batches: DDP's gradient all-reduces line up
        and no rank waits forever for a step its peers never take.
        """
        import numpy as np

        rows = len(frame)
        if self.world_size == 1 or rows == 0:
            return frame
        per_rank = -(-rows // self.world_size)
        positions = (np.arange(per_rank * self.world_size) % rows)[self.rank :: self.world_size]
        return frame.iloc[positions] if hasattr(frame, "iloc") else frame[positions]

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Queue metrics for MLflow; returns at once. Only rank 0's metrics are kept."""
        self._raise_if_cancelled()
        self._step = self._step + 1 if step is None else int(step)
        if self._writer is not None:
            self._writer.log(metrics, self._step)

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Persist `state` (tensors and plain values) to the run's artifacts; rank 0 only.

        Returns after copying the state; a background thread stores the run's metrics so far,
        then the checkpoint, so a resumed run never misses a step.
        """
        self._raise_if_cancelled()
        if not self.is_main:
            return
        self._ckpt_seq += 1
        self._checkpointer().submit(self._ckpt_seq, self._step, snapshot(dict(state)))

    def restore(self) -> Any:
        """The state of the last checkpoint this run wrote, or None on a fresh start."""
        saved = CheckpointStore(self._client, self.run_id).latest(self.device)
        if saved is None:
            return None
        self._ckpt_seq = int(saved["seq"])
        self._step = int(saved["step"])
        self.resumed_from = self._ckpt_seq
        return saved["state"]

    def close(self) -> None:
        """Wait for the last checkpoint to be stored (called by the runner)."""
        if self._background is not None:
            self._background.close()

    def _checkpointer(self) -> BackgroundCheckpointer:
        if self._background is None:
            writer = self._writer
            self._background = BackgroundCheckpointer(
                CheckpointStore(self._client, self.run_id).write,
                before_write=writer.flush if writer is not None else None)
        return self._background

    def _raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled(f"run {self.run_id} was cancelled")
