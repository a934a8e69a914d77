"""Every model workbench logs is pt2 (torch.export): it loads without unpickling code."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import workbench as wb


def _assert_pickle_free_pt2(tracking, result) -> None:
    from mlflow.pytorch import _validate_pt2_archive_is_pickle_free

    local = Path(mlflow.artifacts.download_artifacts(result.model_uri))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert "data/model.pt2" in files and "data/model.pth" not in files, files
    _validate_pt2_archive_is_pickle_free(str(local / "data" / "model.pt2"))  # raises if not
    assert tracking.get_run(result.run_id).info.status == "FINISHED"


def test_example_is_the_first_batch_the_model_saw(tracking) -> None:
    def fit(ctx):
        import torch

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(64, 3)
        y = x.sum(dim=1, keepdim=True)
        for step in range(20):  # no ctx.input_example anywhere
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            ctx.log_metrics({"loss": float(loss.detach())}, step=step)
        return model

    result = wb.train(fit, progress=False).result(timeout=120)
    _assert_pickle_free_pt2(tracking, result)
    loaded = mlflow.pyfunc.load_model(result.model_uri)
    assert loaded.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 3)
    assert np.asarray(loaded.predict(np.ones((4, 3), dtype=np.float32))).shape == (4, 1)


def test_example_from_the_numeric_columns_of_the_data(tracking) -> None:
    @wb.trainable(target="y")
    def fit(ctx):
        import torch

        return torch.nn.Linear(2, 1)  # never called: only ctx.data tells its input

    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.ones(20), "y": np.arange(20) % 2})
    result = wb.train(fit, data=frame, progress=False).result(timeout=120)
    _assert_pickle_free_pt2(tracking, result)
    loaded = mlflow.pyfunc.load_model(result.model_uri)
    assert loaded.metadata.metadata == {"feature_names": ["a", "b"]}
    assert np.asarray(loaded.predict(np.zeros((3, 2), dtype=np.float32))).shape == (3, 1)


def test_a_model_that_cannot_be_exported_is_said_in_one_line(tracking) -> None:
    def fit(ctx):
        import torch

        class TwoInputs(torch.nn.Module):
            def forward(self, a, b):
                return a + b

        model = TwoInputs()
        model(torch.ones(2, 2), torch.ones(2, 2))
        return model

    result = wb.train(fit, progress=False).result(timeout=120)
    assert result.model_uri is None
    assert "model TwoInputs not logged" in result.model_error
    assert "set ctx.input_example" in result.model_error and "\n" not in result.model_error
    run = tracking.get_run(result.run_id)
    assert run.info.status == "FINISHED"  # training itself succeeded
    assert run.data.tags["workbench.model_error"] == result.model_error
    assert not run.outputs or not run.outputs.model_outputs  # nothing pickled instead

    with pytest.raises(Exception, match="not logged"):  # a registration cannot be met: fail
        wb.train(fit, register="two-inputs", progress=False).result(timeout=120)
