"""The batched metric writer, against a real SQLite MLflow store and against a flaky sink."""

from __future__ import annotations

import threading
import time

import pytest

from workbench.tracking.sinks import mlflow_sink, persisted_steps
from workbench.tracking.store import ensure_experiment, tracking_client
from workbench.tracking.writer import MetricWriter, Point


@pytest.fixture
def store(wb_home):
    client = tracking_client()
    run = client.create_run(ensure_experiment(client, "writer"))
    yield client, run.info.run_id
    if client.get_run(run.info.run_id).info.lifecycle_stage == "active":
        client.set_terminated(run.info.run_id)


def test_every_point_reaches_the_store_in_batches(store) -> None:
    client, run_id = store
    writer = MetricWriter(mlflow_sink(client, run_id), interval=0.05)
    for step in range(2500):
        writer.log({"loss": 1.0 / (step + 1), "acc": step / 2500}, step)
    writer.close()
    assert writer.stats.persisted == 5000
    assert writer.stats.batches >= 5  # <= 1000 points a call: MLflow's batch limit
    history = client.get_metric_history(run_id, "loss")
    assert sorted(m.step for m in history) == list(range(2500))


def test_log_never_waits_on_a_slow_store() -> None:
    release = threading.Event()
    written: list[Point] = []

    def slow_sink(points: list[Point]) -> None:
        release.wait(10)
        written.extend(points)

    writer = MetricWriter(slow_sink, interval=0.01)
    started = time.perf_counter()
    for step in range(20_000):
        writer.log({"x": float(step)}, step)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # the sink is blocked the whole time; the loop is not
    release.set()
    writer.close()
    assert len(written) == 20_000


def test_a_failing_store_is_retried_and_loses_nothing() -> None:
    calls = {"n": 0}
    written: list[Point] = []

    def flaky(points: list[Point]) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise OSError("database is locked")
        written.extend(points)

    writer = MetricWriter(flaky, interval=0.01)
    for step in range(50):
        writer.log({"x": float(step)}, step)
    writer.close()
    assert [p.step for p in written] == list(range(50))
    assert writer.stats.retries == 3


def test_a_store_that_stays_down_is_reported() -> None:
    def down(points: list[Point]) -> None:
        raise OSError("no route to host")

    writer = MetricWriter(down, interval=0.01, max_retries=2)
    writer.log({"x": 1.0}, 0)
    time.sleep(0.2)  # the writer gives up on this one...
    writer.log({"x": 2.0, "y": 0.5}, 1)  # ...and never takes these
    with pytest.raises(RuntimeError, match="metric writer failed: no route to host; 3 metric "
                                           "points were not written"):
        writer.close()
    assert sorted((p.key, p.step, p.value) for p in writer.unwritten()) == [
        ("x", 0, 1.0), ("x", 1, 2.0), ("y", 1, 0.5)]  # handed over, not dropped


def test_flush_returns_once_earlier_points_are_stored(store) -> None:
    client, run_id = store
    writer = MetricWriter(mlflow_sink(client, run_id), interval=30)  # would not wake on its own
    writer.log({"x": 1.0}, 0)
    writer.flush(timeout=10)
    assert [m.value for m in client.get_metric_history(run_id, "x")] == [1.0]
    writer.close()


def test_a_resumed_run_skips_steps_already_stored(store) -> None:
    client, run_id = store
    first = MetricWriter(mlflow_sink(client, run_id), interval=0.01)
    for step in range(6):
        first.log({"x": float(step)}, step)
    first.close()
    assert persisted_steps(client, run_id) == {"x": 5}

    second = MetricWriter(mlflow_sink(client, run_id), interval=0.01,
                          persisted_steps=persisted_steps(client, run_id))
    for step in range(3, 9):  # replays 3..5 after restoring an older checkpoint
        second.log({"x": 100.0 + step}, step)
    second.close()
    assert second.stats.skipped == 3
    values = {m.step: m.value for m in client.get_metric_history(run_id, "x")}
    assert values == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0, 6: 106.0, 7: 107.0,
                      8: 108.0}


def test_non_numeric_values_fail_in_the_loop_not_later() -> None:
    writer = MetricWriter(lambda points: None, interval=0.01)
    with pytest.raises((TypeError, ValueError)):
        writer.log({"x": "high"}, 0)  # type: ignore[dict-item]
    writer.close()


def test_bulk_sql_sink_stores_what_log_batch_stores(wb_home) -> None:
    """Same history and latest values through the bulk path as through MLflow's log_batch."""
    import math

    from workbench.config import settings
    from workbench.tracking.sql_sink import sql_bulk_sink

    client = tracking_client()
    experiment = ensure_experiment(client, "bulk")
    points = [Point("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(1500)]
    points += [Point("odd", v, 5_000, s) for s, v in enumerate([math.nan, math.inf, -math.inf,
                                                                  2.5])]
    points += [Point("late", 9.0, 10, 7), Point("late", 1.0, 20, 3)]  # latest = highest step
    stored = {}
    for kind in ("log_batch", "bulk"):
        run_id = client.create_run(experiment).info.run_id
        sink = mlflow_sink(client, run_id)
        if kind == "bulk":
            sink = sql_bulk_sink(client, settings().tracking_uri, run_id, fallback=sink)
        for start in range(0, len(points), 1000):
            sink(points[start:start + 1000])
        run = client.get_run(run_id)
        stored[kind] = (
            {k: sorted((m.step, m.timestamp, str(m.value)) for m in
                       client.get_metric_history(run_id, k)) for k in ("loss", "odd", "late")},
            {k: str(v) for k, v in run.data.metrics.items()},
        )
        client.set_terminated(run_id)
    assert stored["bulk"] == stored["log_batch"]
    assert stored["bulk"][1]["late"] == "9.0"


def test_bulk_sql_sink_falls_back_on_duplicates(store) -> None:
    from workbench.config import settings
    from workbench.tracking.sql_sink import sql_bulk_sink

    client, run_id = store
    sink = sql_bulk_sink(client, settings().tracking_uri, run_id,
                         fallback=mlflow_sink(client, run_id))
    batch = [Point("x", float(s), 100, s) for s in range(10)]
    sink(batch)
    sink([*batch, Point("x", 10.0, 100, 10)])  # ten already stored: the batch still lands
    assert sorted(m.step for m in client.get_metric_history(run_id, "x")) == list(range(11))


def test_bulk_sql_sink_does_not_fall_back_on_a_healthy_store(store) -> None:
    from workbench.config import settings
    from workbench.tracking.sql_sink import sql_bulk_sink

    client, run_id = store
    used: list[int] = []
    sink = sql_bulk_sink(client, settings().tracking_uri, run_id,
                         fallback=lambda points: used.append(len(points)))
    for start in range(0, 3000, 1000):
        sink([Point("x", float(s), 7, s) for s in range(start, start + 1000)])
    assert used == []
    assert len(client.get_metric_history(run_id, "x")) == 3000


def test_bulk_sql_sink_refuses_a_deleted_run(store) -> None:
    from workbench.config import settings
    from workbench.tracking.sql_sink import sql_bulk_sink

    client, run_id = store
    client.delete_run(run_id)
    sink = sql_bulk_sink(client, settings().tracking_uri, run_id,
                         fallback=mlflow_sink(client, run_id))
    with pytest.raises(Exception, match=r"(?i)active"):
        sink([Point("x", 1.0, 1, 0)])


def test_close_says_so_when_the_store_cannot_keep_up() -> None:
    def slow(points: list[Point]) -> None:
        time.sleep(0.5)

    writer = MetricWriter(slow, interval=0.01)
    for step in range(5000):
        writer.log({"x": float(step)}, step)
        if step % 1000 == 999:
            time.sleep(0.02)  # let the writer take batches one at a time
    with pytest.raises(TimeoutError, match=r"\d+ metric points not written after 0.2s"):
        writer.close(timeout=0.2)
    assert 0 < len(writer.unwritten()) <= 5000
    writer.close(timeout=30)  # and it does finish
    assert writer.stats.persisted == 5000
