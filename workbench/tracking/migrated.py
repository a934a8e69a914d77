"""Runs copied by `workbench migrate` keep the id they had in the store they came from.

MLflow gives every run it creates a new id, while the promotion history is a hash chain that
must be copied byte for byte: its entries keep naming the source's run ids (the run promoted,
the ledger run holding an entry's large parts). Each copied run carries its old id in a tag,
so a run named by the history is found under either id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient

FROM_TAG = "workbench.migrated_from"  # on a copied run (and logged model): its id at the source
COMPLETE_TAG = "workbench.migration.complete"  # set last: every part of the run was copied


def find_run(client: MlflowClient, run_id: str) -> Any:
    """The run `run_id`, or the copy `workbench migrate` made of it; MlflowException when
    neither exists (as `get_run` raises)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        found = copies_of(client, run_id)
        if not found:
            raise
        return found[0]


def copies_of(client: MlflowClient, run_id: str) -> list[Any]:
    """The runs copied from `run_id` (normally one), in any experiment, deleted ones too."""
    from mlflow.entities import ViewType

    from workbench.tracking.store import filter_literal

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    return list(client.search_runs(experiments, f"tags.`{FROM_TAG}` = {filter_literal(run_id)}",
                                   run_view_type=ViewType.ALL, max_results=10))
