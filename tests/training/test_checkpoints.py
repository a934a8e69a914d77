"""The background checkpointer: the loop pays a copy, the latest state always lands."""

from __future__ import annotations

import threading

import pytest
import torch

from workbench.training.checkpoints import BackgroundCheckpointer, snapshot


def test_snapshot_is_immune_to_later_training_steps() -> None:
    weights = torch.zeros(3)
    saved = snapshot({"model": {"w": weights}, "epoch": 1, "history": [torch.ones(1)]})
    weights += 5  # the optimiser keeps going after ctx.checkpoint returns
    assert saved["model"]["w"].tolist() == [0.0, 0.0, 0.0]
    assert saved["epoch"] == 1 and saved["history"][0].tolist() == [1.0]


def test_a_newer_checkpoint_replaces_one_still_waiting() -> None:
    gate, started = threading.Event(), threading.Event()
    written: list[int] = []

    def write(seq: int, step: int, state: object) -> None:
        started.set()
        gate.wait(10)
        written.append(seq)

    checkpointer = BackgroundCheckpointer(write)
    checkpointer.submit(0, 0, {})
    assert started.wait(10)
    for seq in range(1, 6):  # arrive while #0 is still being written
        checkpointer.submit(seq, seq, {})
    gate.set()
    checkpointer.close()
    assert written == [0, 5]  # 1..4 were superseded while #0 was written


def test_metrics_are_flushed_before_each_checkpoint() -> None:
    order: list[str] = []
    checkpointer = BackgroundCheckpointer(lambda *a: order.append("checkpoint"),
                                          before_write=lambda: order.append("flush"))
    checkpointer.submit(0, 3, {})
    checkpointer.wait()
    assert order == ["flush", "checkpoint"]
    checkpointer.close()


def test_a_failed_write_is_reported_to_the_loop() -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    checkpointer = BackgroundCheckpointer(broken)
    checkpointer.submit(0, 0, {})
    with pytest.raises(RuntimeError, match="disk full"):
        checkpointer.wait()
    with pytest.raises(RuntimeError, match="disk full"):
        checkpointer.submit(1, 1, {})
