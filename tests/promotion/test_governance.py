"""Governed promotion: rollback walks back and needs who/why, four-eyes covers rollbacks and
compares people as they type their names, data gates check the data itself, long texts survive
MLflow's tag limit, and the public read API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench as wb
from tests.promotion.runs import champion, client, model_run
from tests.stores import Store
from workbench.errors import ConfigError
from workbench.promotion import registry

FOUR_EYES = "workbench.policy.four_eyes"


def _promoted(model: str, count: int) -> list[str]:
    runs = [model_run(0.7 + 0.01 * i) for i in range(count)]
    for run_id in runs:
        wb.promote(model, run_id=run_id, approver="ana", reason="better")
    return runs


def test_rollback_walks_back_never_forward(wb_home: Path) -> None:
    runs = _promoted("walk", 3)
    assert champion("walk") == "3"
    with pytest.raises(ConfigError, match="needs an approver and a reason"):
        wb.rollback("walk", approver=" ", reason="v3 misbehaves")
    first = wb.rollback("walk", approver="ana", reason="v3 misbehaves")
    assert (first["version"], first["previous"], first["approver"], first["reason"]) == \
        ("2", "3", "ana", "v3 misbehaves")
    second = wb.rollback("walk", approver="bo", reason="v2 too")
    assert (second["version"], champion("walk")) == ("1", "1")  # back again, not to v3
    with pytest.raises(ConfigError, match="replaced no earlier version"):
        wb.rollback("walk", approver="bo", reason="again")
    # --to takes only a known-good version on the way back; else: promote it
    with pytest.raises(ConfigError, match=rf"v3 of walk was rolled back from.*promote it: "
                                          rf"workbench promote walk --run {runs[2]} "):
        wb.rollback("walk", to_version=3, approver="bo", reason="forward")
    wb.promote("walk", run_id=runs[2], approver="ana", reason="fixed")  # v3 again: [1, 3]
    with pytest.raises(ConfigError, match=r"v2 of walk was rolled back from.*\(known-good: v1\)"):
        wb.rollback("walk", to_version="2", approver="bo", reason="r")
    assert wb.rollback("walk", to_version="1", approver="bo", reason="r")["version"] == "1"
    assert [e["action"] for e in wb.history("walk")] == \
        ["promoted"] * 3 + ["rollback"] * 2 + ["promoted", "rollback"]
    assert wb.verify_history("walk").ok


def test_rollback_of_a_four_eyes_model_is_a_request_unless_emergency(wb_home: Path) -> None:
    _promoted("credit", 2)
    client().set_registered_model_tag("credit", FOUR_EYES, "true")
    request = wb.rollback("credit", approver="ana", reason="v2 drops approvals")
    assert (request["action"], request["kind"], request["request_id"]) == \
        ("requested", "rollback", f"credit/{request['seq']}")
    assert champion("credit") == "2"  # nothing moved yet
    assert [e["seq"] for e in wb.pending("credit")] == [request["seq"]]
    with pytest.raises(ConfigError, match="requested this rollback and cannot approve it"):
        wb.approve(request["request_id"], approver=" ANA ", reason="self")
    record = wb.approve(request["request_id"], approver="bo", reason="confirmed")
    assert (record.version, record.previous_version, champion("credit")) == ("1", "2", "1")
    done = wb.history("credit")[-1]
    assert (done["action"], done["requester"], done["approver"], done["request"]) == \
        ("rollback", "ana", "bo", request["request_id"])
    # emergency policy: a rollback needs no second person, and says it was one
    again = wb.promote("credit", run_id=model_run(0.9), approver="ana", reason="v3")
    wb.approve(again.request_id, approver="bo", reason="ok")  # type: ignore[union-attr]
    client().set_registered_model_tag("credit", registry.ROLLBACK_POLICY_TAG, "emergency")
    urgent = wb.rollback("credit", approver="ana", reason="outage")
    assert (urgent["action"], urgent["emergency"], champion("credit")) == ("rollback", True, "1")
    assert wb.verify_history("credit").ok


def test_four_eyes_on_the_embedded_store_compares_people_and_says_unverified(
        wb_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One person's store: names are compared as people type them, no caller can claim a
    login (the keyword is gone), and the record says nobody verified the identity."""
    import inspect

    _promoted("loan", 1)
    for action in (wb.promote, wb.approve, wb.decline, wb.rollback, wb.unlock):
        assert "authenticated_user" not in inspect.signature(action).parameters
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bo@corp")  # a claim, checked by nobody
    request = wb.promote("loan", run_id=model_run(0.9), approver="Ana Lima", reason="v2",
                         four_eyes=True)
    entry = wb.history("loan")[-1]
    assert (entry["requester"], entry["authenticated"]) == ("Ana Lima", None)
    assert entry["identity"] == "not verified (no governing tracking server)"
    with pytest.raises(ConfigError, match="cannot approve it"):
        wb.approve(request.request_id, approver=" ana   LIMA ", reason="self")  # type: ignore
    record = wb.approve(request.request_id, approver="Bo", reason="checked")  # type: ignore
    assert record.evidence["identity"].startswith("not verified")
    last = wb.history("loan")[-1]
    assert (last["approver"], last["authenticated"], last["requester"]) == \
        ("Bo", None, "Ana Lima")


def _spec(root: Path, model: str, gates: str = "") -> Path:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "pipelines" / "retrain.yaml").write_text(
        f"name: retrain\nmodel: {model}\nsteps:\n  - {{name: train, function: 'steps:train'}}\n"
        f"{gates}")
    return root


def test_data_gates_and_monitor_refuse_training_data_that_changed(wb_home: Path,
                                                                 tmp_path: Path) -> None:
    data = tmp_path / "train.parquet"
    wb.demo.make_dataset(800, seed=0).to_parquet(data)
    from workbench.tracking.datasets import checked_training_data

    run_id = model_run(0.8, data=data)
    assert checked_training_data(client().get_run(run_id)) == data  # unchanged: used as is
    calm = wb.demo.make_dataset(500, seed=1)
    wb.promote("churn", run_id=run_id, approver="ana", reason="v1")
    wb.demo.make_dataset(800, seed=5).to_parquet(data)  # same path, other rows
    later = model_run(0.9, data=data)
    wb.demo.make_dataset(800, seed=6).to_parquet(data)
    changed = rf"the training data at {data} changed since run {later} \(digest \w+ != \w+\)"
    with pytest.raises(ConfigError, match=changed):
        wb.promote("churn", run_id=later, approver="ana", reason="v2", production_data=calm)
    assert champion("churn") == "1" and len(wb.history("churn")) == 1  # nothing recorded
    root = _spec(tmp_path / "project", "churn")
    with pytest.raises(ConfigError, match=rf"the training data at {data} changed since run "
                                          rf"{run_id} \(digest"):
        wb.monitor("churn", calm, root=root)


def _no_tag_over_limit(model: str) -> None:
    tags = dict(client().get_registered_model(model).tags)
    for version in client().search_model_versions(f"name = '{model}'"):
        tags.update({f"v{version.version}:{k}": v for k, v in version.tags.items()})
    longest = max(tags, key=lambda k: len(tags[k]))
    assert len(tags[longest]) <= 5000, f"tag {longest} holds {len(tags[longest])} characters"


def test_long_reasons_and_wide_gates_survive_the_tag_limit(store: Store, tmp_path: Path) -> None:
    model = store.unique("wide")
    reason = "".join(f"paragraph {i}: the holdout shows no regression. " for i in range(520))
    assert len(reason) > 24_000
    metrics = {f"slice_auc_{i:03d}": 0.9 for i in range(500)}
    run_id = model_run(0.8, metrics=metrics)
    record = wb.promote(model, run_id=run_id, approver="ana", reason=reason,
                        require=[f"{name}>=0.5" for name in metrics])
    assert len(record.gates) == 500
    _no_tag_over_limit(model)
    (entry,) = wb.history(model)
    assert entry["reason"] == reason and len(entry["gates"]) == 500
    assert set(entry["blobs"]) >= {"reason", "gates"}  # in artifacts, digests in the entry
    dossier = wb.dossier(model, record.version)
    assert dossier["approval"]["reason"] == reason and len(dossier["gates"]) == 500
    assert dossier["history"][0]["reason"] == reason
    tags = client().get_model_version(model, record.version).tags
    assert json.loads(tags["workbench.gates"])[0]["passed"] is True  # still JSON when cut
    # a refused promotion with a data gate failing on 500 columns is recorded whole
    columns = [f"feature_{i:03d}" for i in range(500)]
    import pandas as pd

    train = pd.DataFrame({c: [0.0, 1.0] * 50 for c in columns})
    root = _spec(tmp_path / "project", model, "gates:\n  - {validation: true}\n"
                                              "drift:\n  data: incoming.parquet\n")
    (train + 100).to_parquet(root / "incoming.parquet")
    train.to_parquet(tmp_path / "train.parquet")  # a governing server reads files, not frames
    with pytest.raises(wb.WorkbenchError, match="data validation"):
        wb.promote(model, run_id=model_run(0.9), approver="ana", reason=reason, root=root,
                   training_data=tmp_path / "train.parquet")
    rejected = wb.history(model)[-1]
    assert rejected["action"] == "rejected" and len(rejected["gates"][0]["inputs"]["failed"]) \
        == 500
    _no_tag_over_limit(model)
    assert wb.verify_history(model).ok


def test_the_public_read_api_hides_workbench_internals(wb_home: Path) -> None:
    from workbench_apps.promotion import data_store

    _promoted("ltv", 1)
    request = wb.promote("ltv", run_id=model_run(0.9), approver="ana", reason="v2",
                         four_eyes=True)
    with registry.promotion_lock(client(), "ltv"):  # a lock (and the store clock) exist now
        assert wb.models() == ["ltv"] == data_store.models()
    assert wb.champion("ltv") == "1" and wb.champion("nope") is None
    assert [f"ltv/{e['seq']}" for e in wb.pending("ltv")] == \
        [request.request_id]  # type: ignore[union-attr]
    assert [e["action"] for e in wb.history("ltv")] == ["promoted", "requested"]
    check = wb.verify_history("ltv")
    assert isinstance(check, wb.HistoryCheck) and check.ok and check.why == \
        "2 entries, chain intact"
    summary = data_store.summary("ltv")
    assert summary["history_ok"] and summary["champion"] == "1"
