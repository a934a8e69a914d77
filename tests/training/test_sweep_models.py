"""`wb.sweep(log_models=...)`: which trials get an exported model, and that the best one serves."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

import workbench as wb
from tests.helpers import wait_for


def fit(ctx):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(ctx.params.w)
    x = torch.ones(8, 2)
    ctx.log_metrics({"loss": float(abs(ctx.params.w - 0.5))}, step=0)
    ctx.checkpoint({"w": model.weight.detach()})
    model(x)
    return model


def _models_logged(tracking, run_id: str) -> int:
    outputs = tracking.get_run(run_id).outputs
    return len(outputs.model_outputs) if outputs else 0


@pytest.mark.parametrize("log_models, expected", [("best", {0.4: 1, 0.9: 0, 2.0: 0}),
                                                  ("all", {0.4: 1, 0.9: 1, 2.0: 1}),
                                                  ("none", {0.4: 0, 0.9: 0, 2.0: 0})])
def test_sweep_exports_the_models_it_is_asked_to(tracking, log_models: str,
                                                 expected: dict[float, int]) -> None:
    sweep = wb.sweep(fit, space={"w": [0.9, 0.4, 2.0]}, metric="loss", progress=False,
                     log_models=log_models)
    results = {r.run_id: r for r in sweep.result(timeout=180)}
    best = sweep.best()
    assert best.metrics["loss"] == pytest.approx(0.1)
    wait_for(lambda: tracking.get_run(sweep.parent_run_id).info.status == "FINISHED", 30)
    for run_id, result in results.items():
        run = tracking.get_run(run_id)
        w = float(run.data.params["w"])
        assert _models_logged(tracking, run_id) == expected[w], (log_models, w)
        assert (result.model_uri is not None) == bool(expected[w])
        assert run.info.status == "FINISHED"
        ckpts = tracking.list_artifacts(run_id, "checkpoints")
        assert len(ckpts) == 1  # every trial keeps its checkpoint, whatever is exported
    if log_models != "none":
        parent = tracking.get_run(sweep.parent_run_id)
        assert parent.data.tags["workbench.best_run_id"] == best.run_id
        model = mlflow.pyfunc.load_model(best.model_uri)
        out = np.asarray(model.predict(np.ones((3, 2), dtype=np.float32)))
        assert out.shape == (3, 1)


def test_unknown_log_models_is_refused(tracking) -> None:
    with pytest.raises(wb.ConfigError, match="log_models must be one of 'best', 'all', 'none'"):
        wb.sweep(fit, space={"w": [1.0]}, metric="loss", log_models="some")
