"""Workbench: notebook-first MLOps on PyTorch, Dask and MLflow.

    import workbench as wb
    job = wb.train("workbench.demo.classifier:train", params={"epochs": 5},
                   data=wb.demo.make_dataset(5_000))
    job.result()

Attributes load lazily so `import workbench` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "cluster": "workbench.dask_cluster",
    "cluster_status": "workbench.dask_cluster",
    "train": "workbench.training.launch",
    "sweep": "workbench.training.launch",
    "Job": "workbench.training.job",
    "Sweep": "workbench.training.job",
    "RunResult": "workbench.training.job",
    "trainable": "workbench.training.spec",
    "uniform": "workbench.training.space",
    "loguniform": "workbench.training.space",
    "randint": "workbench.training.space",
    "choice": "workbench.training.space",
    "WorkbenchError": "workbench.errors",
    "ConfigError": "workbench.errors",
    "JobCancelled": "workbench.errors",
    "JobFailed": "workbench.errors",
    "UnreachableError": "workbench.errors",
    "settings": "workbench.config",
    "drift": "workbench.monitoring.api",
    "DriftResult": "workbench.monitoring.result",
    "ColumnDrift": "workbench.monitoring.result",
    "drift_history": "workbench.monitoring.history",
    "drift_models": "workbench.monitoring.history",
    "drift_result": "workbench.monitoring.history",
    "drift_report": "workbench.monitoring.history",
    "drift_retrainings": "workbench.retraining_window",
    "check_drift": "workbench.retraining",
    "drift_policy": "workbench.retraining",
    "validate": "workbench.monitoring.validation",
    "ValidationResult": "workbench.monitoring.validation",
    "performance_drift": "workbench.monitoring.performance",
    "promote": "workbench.promotion.promote",
    "rollback": "workbench.promotion.rollback",
    "unlock": "workbench.promotion.rollback",
    "history": "workbench.promotion.queries",
    "models": "workbench.promotion.queries",
    "champion": "workbench.promotion.queries",
    "pending": "workbench.promotion.queries",
    "rollback_target": "workbench.promotion.queries",
    "verify_history": "workbench.promotion.queries",
    "HistoryCheck": "workbench.promotion.queries",
    "PromotionRecord": "workbench.promotion.promote",
    "dossier": "workbench.promotion.dossier",
    "approve": "workbench.promotion.promote",
    "decline": "workbench.promotion.promote",
    "policy": "workbench.governance.actions",
    "adopt": "workbench.governance.actions",
    "monitor": "workbench.retraining",
    "log_evaluation_data": "workbench.tracking.datasets",
    "experiments": "workbench.runs",
    "search_runs": "workbench.runs",
    "RunsPage": "workbench.runs",
    "run_detail": "workbench.runs",
    "metric_histories": "workbench.runs",
}
# `wb.apps`: the dashboards inline in a notebook (Panel; the core itself imports no UI)
_SUBMODULES = {"demo": "workbench.demo", "pipeline": "workbench.pipelines",
               "apps": "workbench_apps.inline"}

__all__ = [
    "ColumnDrift",
    "ConfigError",
    "DriftResult",
    "HistoryCheck",
    "Job",
    "JobCancelled",
    "JobFailed",
    "PromotionRecord",
    "RunResult",
    "RunsPage",
    "Sweep",
    "UnreachableError",
    "ValidationResult",
    "WorkbenchError",
    "adopt",
    "approve",
    "apps",
    "champion",
    "check_drift",
    "choice",
    "cluster",
    "cluster_status",
    "decline",
    "demo",
    "dossier",
    "drift",
    "drift_history",
    "drift_models",
    "drift_policy",
    "drift_report",
    "drift_result",
    "drift_retrainings",
    "experiments",
    "history",
    "log_evaluation_data",
    "loguniform",
    "metric_histories",
    "models",
    "monitor",
    "pending",
    "performance_drift",
    "pipeline",
    "policy",
    "promote",
    "randint",
    "rollback",
    "rollback_target",
    "run_detail",
    "search_runs",
    "settings",
    "sweep",
    "train",
    "trainable",
    "uniform",
    "unlock",
    "validate",
    "verify_history",
]

if TYPE_CHECKING:
    from workbench import demo
    from workbench import pipelines as pipeline
    from workbench.config import settings
    from workbench.dask_cluster import cluster, cluster_status
    from workbench.errors import (
        ConfigError,
        JobCancelled,
        JobFailed,
        UnreachableError,
        WorkbenchError,
    )
    from workbench.governance.actions import adopt, policy
    from workbench.monitoring.api import drift
    from workbench.monitoring.history import (
        drift_history,
        drift_models,
        drift_report,
        drift_result,
    )
    from workbench.monitoring.performance import performance_drift
    from workbench.monitoring.result import ColumnDrift, DriftResult
    from workbench.monitoring.validation import ValidationResult, validate
    from workbench.promotion.dossier import dossier
    from workbench.promotion.promote import PromotionRecord, approve, decline, promote
    from workbench.promotion.queries import (
        HistoryCheck,
        champion,
        history,
        models,
        pending,
        rollback_target,
        verify_history,
    )
    from workbench.promotion.rollback import rollback, unlock
    from workbench.retraining import check_drift, drift_policy, monitor
    from workbench.retraining_window import drift_retrainings
    from workbench.runs import RunsPage, experiments, metric_histories, run_detail, search_runs
    from workbench.tracking.datasets import log_evaluation_data
    from workbench.training.job import Job, RunResult, Sweep
    from workbench.training.launch import sweep, train
    from workbench.training.space import choice, loguniform, randint, uniform
    from workbench.training.spec import trainable
    from workbench_apps import inline as apps


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
