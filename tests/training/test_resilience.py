"""What happens when things go wrong: dead workers, failing code, bad input, DDP."""

from __future__ import annotations

import os
import signal
import threading

import pandas as pd
import pytest

import workbench as wb
from tests.helpers import history_steps, slow_counter, wait_for
from workbench.dask_cluster import live_workers

DEMO = "workbench.demo.classifier:train"


def _runs(tracking, experiment: str) -> list:
    found = tracking.get_experiment_by_name(experiment)
    return [] if found is None else tracking.search_runs([found.experiment_id])


def test_killed_worker_resumes_from_its_checkpoint(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 12, "delay": 0.3}, progress=False)
    wait_for(lambda: job.progress()["step"] >= 4, timeout=90)
    pid = job.progress()["pid"]
    os.kill(pid, signal.SIGKILL)  # the worker process dies mid run

    job.result(timeout=180)
    run = tracking.get_run(job.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["workbench.attempt"] == "2"
    assert int(run.data.tags["workbench.resumed_from_checkpoint"]) >= 3
    for key in ("loss", "epoch_value"):  # every step exactly once: none repeated, none missing
        assert history_steps(tracking, job.run_id, key) == list(range(12))
    values = {m.step: m.value for m in tracking.get_metric_history(job.run_id, "epoch_value")}
    assert values == {step: float(step) for step in range(12)}


def test_a_failing_train_function_reports_its_traceback_and_keeps_metrics(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 10, "delay": 0.05, "fail_at": 4},
                   experiment="failing", progress=False)
    with pytest.raises(ValueError, match="boom at epoch 4"):
        job.result(timeout=120)
    assert job.status() == "FAILED"
    run = tracking.get_run(job.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["workbench.error"] == "ValueError: boom at epoch 4"
    assert history_steps(tracking, job.run_id, "loss") == [0, 1, 2, 3]
    import mlflow

    trace = mlflow.artifacts.load_text(f"runs:/{job.run_id}/error/traceback.txt")
    assert "slow_counter" in trace and "boom at epoch 4" in trace


def test_unknown_param_is_refused_before_anything_runs(tracking) -> None:
    with pytest.raises(wb.ConfigError) as info:
        wb.train(DEMO, params={"epoch": 3}, experiment="refused")
    message = str(info.value)
    assert "unknown parameter 'epoch'" in message and "did you mean 'epochs'" in message
    assert "\n" not in message
    assert _runs(tracking, "refused") == []


def test_mistyped_param_is_refused(tracking) -> None:
    with pytest.raises(wb.ConfigError, match=r"'epochs'='many'"):
        wb.train(DEMO, params={"epochs": "many"}, experiment="refused")
    with pytest.raises(wb.ConfigError, match="'lr'"):
        wb.sweep(DEMO, space={"lr": [0.01, -1.0]}, metric="val_loss", experiment="refused")
    assert _runs(tracking, "refused") == []


def test_data_without_the_target_column_is_refused(tracking) -> None:
    frame = wb.demo.make_dataset(200).drop(columns=["churned"])
    with pytest.raises(wb.ConfigError, match="no target column 'churned'"):
        wb.train(DEMO, data=frame, experiment="refused")
    assert _runs(tracking, "refused") == []


@pytest.mark.parametrize("bad", ["does/not/exist.parquet", "notes.txt"])
def test_unusable_data_paths_are_refused(tracking, tmp_path, bad: str) -> None:
    path = tmp_path / bad
    if bad.endswith(".txt"):
        path.write_text("hello")
    with pytest.raises(wb.ConfigError, match=r"does not exist|not Parquet or CSV"):
        wb.train(DEMO, data=path, experiment="refused")


def test_non_picklable_function_is_refused(tracking) -> None:
    lock = threading.Lock()

    def fit(ctx):
        with lock:
            ctx.log_metrics({"x": 1.0})

    with pytest.raises(wb.ConfigError, match="cannot be sent to dask workers"):
        wb.train(fit, experiment="refused")
    assert _runs(tracking, "refused") == []


def test_bad_function_references(tracking) -> None:
    with pytest.raises(wb.ConfigError, match=r"No module named 'nope' \(searched: .*\); run "
                       "from the project or set WORKBENCH_PROJECT"):
        wb.train("nope:fit")
    with pytest.raises(wb.ConfigError, match="has no function 'missing'"):
        wb.train("workbench.demo.classifier:missing")


def test_unreachable_tracking_server(wb_home, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    with pytest.raises(wb.UnreachableError, match="cannot reach the MLflow tracking server"):
        wb.train(DEMO, params={"epochs": 1})


@pytest.mark.no_store
def test_remote_cluster_with_the_embedded_store_is_refused(wb_home, monkeypatch) -> None:
    # a scheduler on another host, never contacted (loopback ones have their workers here)
    monkeypatch.setenv("WORKBENCH_SCHEDULER", "tcp://dask-scheduler.invalid:8786")
    for launch in (lambda: wb.train(DEMO, params={"epochs": 1}),
                   lambda: wb.sweep(DEMO, space={"lr": [0.01]}, metric="val_loss"),
                   lambda: wb.pipeline.run("any", root=wb_home)):
        with pytest.raises(wb.ConfigError) as info:
            launch()
        assert "set MLFLOW_TRACKING_URI to a tracking server" in str(info.value)
    assert not (wb_home / "mlflow.db").exists()


def test_ddp_across_two_workers_is_one_run_logged_by_rank_zero(tracking) -> None:
    def fit(ctx):
        import torch
        import torch.distributed as dist

        value = torch.tensor([float(ctx.rank + 1)])
        dist.all_reduce(value)  # 1 + 2 when both ranks take part
        for step in range(3):
            ctx.log_metrics({"reduced": float(value), "rank": float(ctx.rank)}, step=step)
        return None

    job = wb.train(fit, workers=2, progress=False)
    job.result(timeout=120)
    history = tracking.get_metric_history(job.run_id, "reduced")
    assert sorted(m.step for m in history) == [0, 1, 2]
    assert {m.value for m in history} == {3.0}
    assert {m.value for m in tracking.get_metric_history(job.run_id, "rank")} == {0.0}


def test_ddp_trains_the_builtin_classifier(tracking) -> None:
    frame = wb.demo.make_dataset(2000, seed=2)
    job = wb.train(DEMO, params={"epochs": 2}, data=frame, workers=2, progress=False)
    result = job.result(timeout=240)
    assert history_steps(tracking, result.run_id, "val_loss") == [0, 1]
    assert result.model_uri is not None
    assert tracking.get_run(result.run_id).info.status == "FINISHED"


def test_ddp_needs_enough_workers(tracking) -> None:
    with pytest.raises(wb.ConfigError, match="workers=5 needs 5 dask workers"):
        wb.train(DEMO, workers=5, experiment="refused")
    assert _runs(tracking, "refused") == []


@pytest.mark.gpu
def test_gpu_worker_trains_on_cuda(tracking) -> None:
    def fit(ctx):
        import torch

        x = torch.ones(4, device=ctx.device)
        ctx.log_metrics({"on_cuda": float(ctx.device.type == "cuda"), "sum": float(x.sum())})

    result = wb.train(fit, progress=False).result(timeout=120)
    assert result.metrics == {"on_cuda": 1.0, "sum": 4.0}


@pytest.mark.gpu
def test_gpu_ddp_uses_nccl(tracking) -> None:
    def fit(ctx):
        import torch.distributed as dist

        ctx.log_metrics({"nccl": float(dist.get_backend() == "nccl")})

    gpus = len(live_workers(wb.cluster()))
    if gpus < 2:
        pytest.skip("needs two GPUs")
    result = wb.train(fit, workers=2, progress=False).result(timeout=120)
    assert result.metrics["nccl"] == 1.0


def test_empty_frame_digest_differs_from_full(tracking) -> None:
    from workbench.data import inspect

    full = wb.demo.make_dataset(100)
    assert inspect(full).digest != inspect(full.iloc[:50]).digest
    assert inspect(full).digest == inspect(full.copy()).digest
    assert isinstance(inspect(pd.DataFrame({"a": [1]})).digest, str)


def test_checkpoints_are_pruned_to_the_last_two(tracking) -> None:
    job = wb.train(slow_counter, params={"epochs": 6, "delay": 0.01}, progress=False)
    job.result(timeout=120)
    names = sorted(a.path for a in tracking.list_artifacts(job.run_id, "checkpoints"))
    assert len(names) == 2 and names[-1].endswith("ckpt-00000005.pt")
