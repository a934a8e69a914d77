"""The runs dashboard without a browser: the read API, its data store and its views on a real
embedded store, runs made through MlflowClient, names and values holding markup."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

import workbench as wb
from workbench.curves import downsample
from workbench.errors import ConfigError
from workbench.tracking.fast_read import FastReadClient
from workbench.tracking.store import ensure_experiment, read_client, tracking_client
from workbench_apps.runs import data_store, views

MARKUP = "<img src=x onerror=alert(1)>"


def make_runs(client: MlflowClient, count: int, *, steps: int = 3) -> list[str]:
    """`count` finished runs, oldest first: run i has lr = i % 3, loss falling over `steps`."""
    experiment = ensure_experiment(client)
    ids = []
    for i in range(count):
        run = client.create_run(experiment, run_name=f"run{i} {MARKUP}", start_time=1000 + i)
        client.log_batch(run.info.run_id,
                         metrics=[Metric("loss", 1 / (i + s + 1), 0, s) for s in range(steps)],
                         params=[Param("lr", str(i % 3)), Param("note", f"v{i} {MARKUP}")],
                         tags=[RunTag("team", "a" if i % 2 else "b")])
        client.set_terminated(run.info.run_id, "FAILED" if i == 0 else "FINISHED")
        ids.append(run.info.run_id)
    return ids


@pytest.fixture
def client(wb_home: Path) -> MlflowClient:
    return tracking_client()


def test_pages_walk_forward_and_back_newest_first(client: MlflowClient) -> None:
    ids = make_runs(client, 12)
    pager = data_store.Pager(page_size=5)
    seen = [r["run_id"] for r in pager.current.rows]
    while pager.has_next:
        seen += [r["run_id"] for r in pager.next().rows]
    assert seen == ids[::-1] and pager.number == 3
    assert isinstance(read_client(), FastReadClient)  # the pages above came from SQL, and
    experiment = ensure_experiment(client)  # match MLflow's own search, page by page
    first = client.search_runs([experiment], max_results=5)
    second = client.search_runs([experiment], max_results=5, page_token=first.token)
    assert [r.info.run_id for r in [*first, *second]] == seen[:10]
    slow = wb.search_runs(filter="params.lr != 'x'", page_size=5)  # a filter MLflow serves
    assert [r["run_id"] for r in slow.rows] == seen[:5]
    assert [r["run_id"] for r in wb.search_runs(filter="params.lr != 'x'", page_size=5,
                                                page_token=slow.next_token).rows] == seen[5:10]
    assert [r["run_id"] for r in pager.previous().rows] == ids[::-1][5:10]
    frame = pager.frame()
    assert list(frame.columns) == [*data_store.BASE_COLUMNS, "params.lr", "params.note",
                                   "metrics.loss"]
    assert frame["name"].iloc[0] == f"run6 {MARKUP}"  # the raw value: views escape it


def test_filters_on_params_metrics_tags_and_status_pass_through(client: MlflowClient) -> None:
    ids = make_runs(client, 9)

    def found(query: str = "", status: str | None = None) -> set[str]:
        return {r["run_id"] for r in wb.search_runs(filter=query, status=status).rows}

    assert found("params.lr = '1'") == {ids[1], ids[4], ids[7]}
    assert found("metrics.loss > 0.2") == set(ids[:2])  # latest loss 1/(i+3)
    assert found("tags.team = 'a' and params.lr = '1'") == {ids[1], ids[7]}
    assert found(status="FAILED") == {ids[0]}
    assert found("params.lr = '0'", status="FINISHED") == {ids[3], ids[6]}
    assert [r["run_id"] for r in wb.search_runs(order=["metrics.loss DESC"]).rows][:2] == ids[:2]


@pytest.mark.parametrize(("query", "problem"), [
    ("params.lr = 1", "Expected a quoted string value"),
    ("loss < 1", "Invalid"),
    ("metrics.loss >> 1", "Invalid comparator"),
])
def test_a_bad_filter_is_one_line_naming_the_problem_and_the_fix(
        client: MlflowClient, query: str, problem: str) -> None:
    make_runs(client, 1)
    with pytest.raises(ConfigError) as caught:
        wb.search_runs(filter=query)
    text = str(caught.value)
    assert "\n" not in text and problem in text and query in text
    assert "params.lr = '0.1'" in text  # the fix: an example of the syntax
    with pytest.raises(ConfigError, match="unknown run status 'DONE'; use one of"):
        wb.search_runs(status="DONE")


def test_downsampling_keeps_first_last_and_each_buckets_extremes() -> None:
    points = [(s, float((s * 7919) % 1000)) for s in range(10_000)]
    points[4321] = (4321, -5.0)  # a spike the chart must still show
    points[777] = (777, 5000.0)
    kept = downsample(points, 100)
    assert len(kept) <= 100 and kept[0] == points[0] and kept[-1] == points[-1]
    assert (4321, -5.0) in kept and (777, 5000.0) in kept
    assert [s for s, _ in kept] == sorted(s for s, _ in kept)
    assert downsample(points[:50], 100) == points[:50]  # short curves unchanged
    with pytest.raises(ConfigError, match="at least 4"):
        downsample(points, 3)


def test_metric_histories_of_several_runs_are_downsampled(client: MlflowClient) -> None:
    ids = make_runs(client, 2, steps=3000)
    curves = wb.metric_histories(ids, ["loss", "absent"], max_points=200)
    for run_id in ids:
        assert set(curves[run_id]) == {"loss"}  # no entry for a metric the run lacks
        loss = curves[run_id]["loss"]
        assert len(loss) <= 200 and loss[0][0] == 0 and loss[-1][0] == 2999


def test_views_escape_every_value_from_data(client: MlflowClient, tmp_path: Path) -> None:
    ids = make_runs(client, 3)
    notebook = tmp_path / f"report {MARKUP[:4]}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# Result\n{MARKUP}<script>window.x=1</script>")]),
        notebook)
    client.log_artifact(ids[2], str(notebook))
    browser = views.RunsBrowser()
    table = browser.table
    assert table.pagination == "remote" and table.page_size == data_store.PAGE_SIZE
    assert all(f == {"type": "plaintext"} for f in table.formatters.values())
    assert set(table.formatters) == set(table.value.columns)
    browser.table.selection = [0, 1]  # picks the two newest
    curve, params = browser.comparison.objects
    assert len(curve.object.renderers) == 2  # one line per picked run, on one chart
    assert params.value["param"].tolist() == ["run name", "lr", "note"]
    assert all(f == {"type": "plaintext"} for f in params.formatters.values())
    listing = browser.detail.objects[0].object
    assert "&lt;img" in listing and "<img" not in listing
    browser.show_artifact(notebook.name)
    frame = browser.detail.objects[1].object
    assert frame.startswith('<iframe sandbox="" srcdoc="') and "<img" not in frame
    assert "<script" not in frame and "&lt;script" in frame  # shown, never run
    browser.filter.value = f"params.note = {MARKUP}"  # unquoted: refused
    browser.apply()
    assert "bad run filter" in browser.notice.object and "<img" not in browser.notice.object


def test_an_empty_store_shows_how_to_make_a_run(client: MlflowClient) -> None:
    browser = views.RunsBrowser()
    assert "No runs yet" in browser.notice.object and browser.notice.visible
    assert browser.table.value.empty and browser.next_button.disabled
    browser.compare([])
    assert browser.comparison.objects == []
    browser.status.value = "RUNNING"
    browser.apply()
    assert "No runs match these filters" in browser.notice.object


def test_a_page_with_running_runs_is_read_again_keeping_the_picked_runs(
        client: MlflowClient) -> None:
    [done] = make_runs(client, 1)
    running = client.create_run(ensure_experiment(client), run_name="live", start_time=5000)
    run_id = running.info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", 1.0, 0, 0)])
    browser = views.RunsBrowser()
    browser.table.selection = [0, 1]  # the running run (newest) and the finished one
    client.log_batch(run_id, metrics=[Metric("loss", 0.5, 0, 1)])
    assert browser.refresh_running()
    assert browser.table.selection == [0, 1]
    curve = browser.comparison.objects[0].object
    assert sorted(len(r.data_source.data["x"]) for r in curve.renderers) == [2, 3]  # it grew
    client.set_terminated(run_id)
    assert browser.refresh_running()  # reads once more and sees it finished
    assert list(browser.table.value["status"]) == ["FINISHED", "FAILED"]
    assert not browser.refresh_running()  # nothing running: no reads
    assert done in list(browser.table.value["run_id"])


def test_a_run_with_100_metrics_of_10000_steps_stays_responsive(client: MlflowClient,
                                                                 wb_home: Path) -> None:
    """A million metric points: the page lists the run, picking it draws one downsampled
    curve at a time, each step of that in well under a second's wait."""
    import sqlite3
    import time

    run_id = client.create_run(ensure_experiment(client), run_name="long").info.run_id
    keys, steps = [f"m{k:03d}" for k in range(100)], 10_000
    # the points written in SQL (log_batch would take minutes): the table MLflow reads
    with sqlite3.connect(wb_home / "mlflow.db") as db:
        db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                       "VALUES (?, ?, ?, ?, ?, 0)",
                       ((k, float(s % 97), s, run_id, s) for k in keys for s in range(steps)))
        db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, run_uuid, "
                       "is_nan) VALUES (?, ?, ?, ?, ?, 0)",
                       ((k, float((steps - 1) % 97), steps - 1, steps - 1, run_id)
                        for k in keys))
    started = time.perf_counter()
    browser = views.RunsBrowser()
    listed = time.perf_counter() - started
    assert list(browser.table.value["run_id"]) == [run_id]
    started = time.perf_counter()
    browser.table.selection = [0]
    picked = time.perf_counter() - started
    assert len(browser.metric.options) == 100 and browser.metric.value == "m000"
    [curve] = [o for o in browser.comparison.objects if o.name.startswith("curve")]
    [line] = curve.object.renderers
    assert len(line.data_source.data["x"]) <= 1000  # downsampled, not 10,000 points sent
    started = time.perf_counter()
    browser.metric.value = "m099"
    switched = time.perf_counter() - started
    assert max(listed, picked, switched) < 3.0, (listed, picked, switched)
