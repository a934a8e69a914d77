"""Promotion through gates, compare-and-set, rollback and a tamper-evident history."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import workbench as wb
from tests.cli.test_cli import workbench
from tests.promotion.runs import model_run
from workbench.errors import ConfigError, PromotionConflict, PromotionRefused
from workbench.promotion.registry import HISTORY_TAG


def trained(auc: float, status: str = "FINISHED") -> str:
    """A run with a logged model and a validation metric, as a training run leaves it (in an
    experiment of the test's store, so no artifacts land in ./mlruns)."""
    run_id = model_run(auc)
    if status != "FINISHED":
        MlflowClient().set_terminated(run_id, status)
    return run_id


def champion(client: MlflowClient, model: str) -> str:
    return str(client.get_model_version_by_alias(model, "champion").version)


def test_gates_pass_then_fail(tracking: MlflowClient) -> None:
    first = trained(0.80)
    record = wb.promote("churn", run_id=first, approver="ana", reason="pilot beats baseline",
                        require=["val_auc>=0.75"])
    assert (record.version, record.previous_version, champion(tracking, "churn")) == \
        ("1", None, "1")
    tags = tracking.get_model_version("churn", "1").tags
    assert tags["workbench.approved_by"] == "ana"
    assert json.loads(tags["workbench.gates"])[0]["passed"] is True
    dossier = json.loads(mlflow.artifacts.load_text(f"runs:/{first}/promotion/churn-v1.json"))
    assert dossier["reason"] == "pilot beats baseline" and dossier["evidence"]["run_id"] == first

    worse = trained(0.78)
    with pytest.raises(PromotionRefused, match=r"failing gates: beats champion on val_auc by "
                                               r"0.01 \(0.78 vs champion v1 0.8 as logged \(no "
                                               r"evaluation data to score both on"):
        wb.promote("churn", run_id=worse, approver="bo", reason="retrained",
                   require=["val_auc>=0.75"], beat_champion="val_auc", margin=0.01)
    assert champion(tracking, "churn") == "1"
    assert len(tracking.search_model_versions("name = 'churn'")) == 1  # nothing registered
    actions = [e["action"] for e in wb.history("churn")]
    assert actions == ["promoted", "rejected"]
    compared = wb.history("churn")[-1]["gates"][1]["inputs"]  # recorded as what it was
    assert (compared["basis"], compared["candidate"], compared["champion"]) == \
        ("logged metrics", 0.78, 0.8)


def test_two_concurrent_promotions_exactly_one_wins(tracking: MlflowClient) -> None:
    wb.promote("fraud", run_id=trained(0.7), approver="ana", reason="first")
    candidates = [trained(0.8), trained(0.81)]
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def attempt(run_id: str) -> None:
        barrier.wait()
        try:
            outcomes[run_id] = wb.promote("fraud", run_id=run_id, approver="bo", reason="race",
                                          expect_version=1)
        except PromotionConflict as exc:
            outcomes[run_id] = exc

    threads = [threading.Thread(target=attempt, args=(r,)) for r in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [r for r, o in outcomes.items() if isinstance(o, wb.PromotionRecord)]
    losers = [o for o in outcomes.values() if isinstance(o, PromotionConflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert "expected v1" in str(losers[0]) and "nothing was moved" in str(losers[0])
    assert champion(tracking, "fraud") == outcomes[winners[0]].version  # type: ignore[attr-defined]
    assert [e["action"] for e in wb.history("fraud")] == ["promoted", "promoted"]


def test_rollback_and_its_refusals(tracking: MlflowClient) -> None:
    wb.promote("ltv", run_id=trained(0.7), approver="ana", reason="v1")
    with pytest.raises(ConfigError, match="replaced no earlier version"):
        wb.rollback("ltv", approver="ana", reason="r")
    wb.promote("ltv", run_id=trained(0.9), approver="ana", reason="v2")
    entry = wb.rollback("ltv", approver="ana", reason="v2 misbehaves")
    assert (entry["version"], entry["previous"]) == ("1", "2")
    assert champion(tracking, "ltv") == "1"
    with pytest.raises(ConfigError, match="has no version 7"):
        wb.rollback("ltv", to_version=7, approver="ana", reason="r")
    assert [e["action"] for e in wb.history("ltv")] == ["promoted", "promoted", "rollback"]


def test_history_is_hash_chained_and_tampering_is_found(tracking: MlflowClient) -> None:
    from workbench.promotion.promote import verify_history

    wb.promote("audit", run_id=trained(0.7), approver="ana", reason="v1")
    wb.promote("audit", run_id=trained(0.8), approver="ana", reason="v2")
    assert tuple(verify_history("audit")) == (True, "2 entries, chain intact")
    key = f"{HISTORY_TAG}000001"
    entry = json.loads(tracking.get_registered_model("audit").tags[key])
    entry["approver"] = "mallory"
    tracking.set_registered_model_tag("audit", key, json.dumps(entry))
    ok, why = verify_history("audit")
    assert not ok and why == "broken at entry 1: content does not match its hash (edited)"


def test_bad_promotions_move_nothing(tracking: MlflowClient) -> None:
    with pytest.raises(ConfigError, match="is FAILED; only a FINISHED run can be promoted"):
        wb.promote("m", run_id=trained(0.9, status="FAILED"), approver="a", reason="r")
    with pytest.raises(ConfigError, match="no MLflow run 'nope'"):
        wb.promote("m", run_id="nope", approver="a", reason="r")
    with pytest.raises(ConfigError, match="is not METRIC OP VALUE"):
        wb.promote("m", run_id=trained(0.9), approver="a", reason="r", require=["auc~0.9"])
    with pytest.raises(ConfigError, match="needs an approver and a reason"):
        wb.promote("m", run_id=trained(0.9), approver=" ", reason="r")
    assert tracking.search_model_versions("name = 'm'") == []


def test_cli_promote_history_rollback(tracking: MlflowClient, wb_home: Path) -> None:
    first, second = trained(0.7), trained(0.9)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return workbench(*args, home=wb_home)

    done = cli("promote", "cli-model", "--run", first, "--approver", "ana", "--reason", "v1",
               "--require", "val_auc>=0.5", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["version"], out["alias"], out["gates"][0]["passed"]) == ("1", "champion", True)
    refused = cli("promote", "cli-model", "--run", second, "--approver", "ana", "--reason",
                  "v2", "--require", "val_auc>=0.95")
    assert refused.returncode == 1
    assert "failing gates: metric val_auc>=0.95" in refused.stderr
    assert cli("promote", "cli-model", "--run", second, "--approver", "ana", "--reason",
               "v2").returncode == 0
    unnamed = cli("rollback", "cli-model")  # who and why are required now
    assert unnamed.returncode == 1 and unnamed.stderr.strip() == (
        "error: a rollback needs an approver and a reason (--approver, --reason)")
    assert cli("rollback", "cli-model", "--approver", "ana", "--reason", "v2 misbehaves"
               ).returncode == 0
    listed = json.loads(cli("history", "cli-model", "--json").stdout)
    assert [e["action"] for e in listed] == ["promoted", "rejected", "promoted", "rollback"]
    verified = cli("history", "cli-model", "--verify")
    assert verified.returncode == 0 and "4 entries, chain intact" in verified.stdout


def test_dossier_has_what_an_auditor_asks(tracking: MlflowClient, wb_home: Path) -> None:
    run_id = trained(0.8)
    wb.promote("dossier-model", run_id=run_id, approver="ana", reason="<b>beats</b> baseline",
               require=["val_auc>=0.5"])
    data = wb.dossier("dossier-model", 1)
    assert data["champion"] and data["approval"]["approver"] == "ana"
    assert data["gates"][0]["inputs"]["value"] == 0.8
    assert data["evidence"]["run_id"] == run_id and data["metrics"]["val_auc"] == 0.8
    assert [e["action"] for e in data["history"]] == ["promoted"]
    page = wb_home / "dossier.html"
    done = workbench("dossier", "dossier-model", "1", "--html", str(page), home=wb_home)
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "&lt;b&gt;beats&lt;/b&gt; baseline" in text and "<b>beats" not in text
    missing = workbench("dossier", "dossier-model", "9", home=wb_home)
    assert missing.returncode == 1 and "has no version 9" in missing.stderr


def test_four_eyes_needs_a_second_person(tracking: MlflowClient, wb_home: Path) -> None:
    from workbench.promotion.promote import PromotionRequest

    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    tracking.set_registered_model_tag("credit", "workbench.policy.four_eyes", "true")
    request = wb.promote("credit", run_id=trained(0.9), approver="ana", reason="v2 is better",
                         require=["val_auc>=0.8"])
    assert isinstance(request, PromotionRequest) and request.request_id == "credit/2"
    assert champion(tracking, "credit") == "1"  # nothing moved yet
    with pytest.raises(ConfigError, match="ana requested this promotion and cannot approve"):
        wb.approve(request.request_id, approver="ana", reason="self")
    listed = workbench("history", "credit", home=wb_home).stdout
    assert "pending: workbench approve credit/2 --approver WHO" in listed
    done = workbench("approve", request.request_id, "--approver", "bo", "--reason", "checked",
                     "--json", home=wb_home)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["version"] == "2" and record["evidence"]["requester"] == "ana"
    assert champion(tracking, "credit") == "2"
    with pytest.raises(ConfigError, match="already decided"):
        wb.approve(request.request_id, approver="cy", reason="again")
    assert "pending" not in workbench("history", "credit", home=wb_home).stdout
    actions = [(e["action"], e.get("approver") or e.get("requester")) for e in wb.history("credit")]
    assert actions == [("promoted", "ana"), ("requested", "ana"), ("promoted", "bo")]


def test_data_gates_validate_and_check_drift_against_production(tracking: MlflowClient,
                                                                wb_home: Path) -> None:
    train = wb_home / "train.parquet"
    wb.demo.make_dataset(3_000, seed=0).to_parquet(train)
    calm, moved = wb.demo.make_dataset(2_000, seed=1), wb.demo.make_dataset(
        2_000, seed=2, covariate_drift=0.9)
    record = wb.promote("gated", run_id=trained(0.8), approver="ana", reason="data ok",
                        production_data=calm, training_data=train)
    assert [(g.gate, g.passed) for g in record.gates] == [("data validation", True),
                                                          ("no data drift", True)]
    with pytest.raises(PromotionRefused, match=r"failing gates: data validation \(failed: "
                                               r"value_range.*no data drift \(drift detected"):
        wb.promote("gated", run_id=trained(0.9), approver="ana", reason="drifted",
                   production_data=moved, training_data=train)
    assert champion(tracking, "gated") == "1"
    with pytest.raises(ConfigError, match="names no training data on disk"):
        wb.promote("gated", run_id=trained(0.9), approver="ana", reason="r",
                   production_data=calm)


def _gated_project(root: Path, gates: str, extra: str = "") -> Path:
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "pipelines" / "retrain.yaml").write_text(
        "name: retrain\nmodel: churn\nsteps:\n  - {name: train, function: 'steps:train'}\n"
        f"gates:\n{gates}{extra}")
    return root


def test_the_pipeline_spec_gates_apply_to_its_model(tracking: MlflowClient,
                                                    tmp_path: Path) -> None:
    root = _gated_project(tmp_path / "project", "  - metric: val_auc >= 0.85\n"
                                                "  - beat_champion: val_auc by 0.01\n")
    with pytest.raises(PromotionRefused, match=r"failing gates: metric val_auc>=0.85 "
                                               r"\(val_auc = 0.8\)$"):
        wb.promote("churn", run_id=trained(0.80), approver="ana", reason="r", root=root)
    record = wb.promote("churn", run_id=trained(0.90), approver="ana", reason="r", root=root,
                        require=["val_auc>=0.5"])
    policy = "registry policy (pipelines/retrain.yaml)"  # the spec's gates, held by the model
    assert [(g.gate, g.inputs["source"]) for g in record.gates] == [
        ("metric val_auc>=0.5", "flag"), ("metric val_auc>=0.85", policy),
        ("beats champion on val_auc by 0.01", policy)]
    assert [e["action"] for e in wb.history("churn")][:2] == ["policy", "rejected"]
    with pytest.raises(PromotionRefused, match=r"beats champion on val_auc by 0.01 "
                                               r"\(0.895 vs champion v1 0.9 as logged"):
        wb.promote("churn", run_id=trained(0.895), approver="ana", reason="r", root=root)
    assert champion(tracking, "churn") == "1"
    rejected = [e for e in wb.history("churn") if e["action"] == "rejected"]
    assert [g["inputs"]["source"] for g in rejected[0]["gates"]] == [policy] * 2
    # the gates are the model's: a promotion from a folder without pipelines/ meets them too
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(PromotionRefused, match=r"metric val_auc>=0\.85"):
        wb.promote("churn", run_id=trained(0.80), approver="ana", reason="r", root=elsewhere)
    # a kernel started in notebooks/ finds the project through WORKBENCH_PROJECT (lab sets it)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKBENCH_PROJECT", str(root))
        with pytest.raises(PromotionRefused, match=r"metric val_auc>=0\.85"):
            wb.promote("churn", run_id=trained(0.80), approver="ana", reason="r")
    # another model is not held to this pipeline's gates
    assert wb.promote("other", run_id=trained(0.5), approver="ana", reason="r",
                      root=root).version == "1"


def test_spec_data_gates_read_the_policy_production_data(tracking: MlflowClient,
                                                         tmp_path: Path) -> None:
    root = tmp_path / "project"
    train = tmp_path / "train.parquet"
    wb.demo.make_dataset(3_000, seed=0).to_parquet(train)
    _gated_project(root, "  - {validation: true, drift: true}\n")
    with pytest.raises(ConfigError, match=r"gates validation \(registry policy \(pipelines/"
                                          r"retrain.yaml\)\), drift \(registry policy "
                                          r"\(pipelines/retrain.yaml\)\) need recent "
                                          r"production data: pass --production-data"):
        wb.promote("churn", run_id=trained(0.8), approver="ana", reason="r", root=root,
                   training_data=train)
    (root / "incoming").mkdir()
    wb.demo.make_dataset(2_000, seed=2, covariate_drift=0.9).to_parquet(
        root / "incoming" / "week1.parquet")
    _gated_project(root, "  - {validation: true, drift: true}\n",
                   "drift:\n  data: incoming\n")
    with pytest.raises(PromotionRefused, match="no data drift"):
        wb.promote("churn", run_id=trained(0.8), approver="ana", reason="r", root=root,
                   training_data=train)
    assert wb.history("churn")[-1]["gates"][1]["inputs"]["production"] == \
        str(root / "incoming")


def test_bad_spec_gates_point_at_their_line(tracking: MlflowClient, tmp_path: Path) -> None:
    root = _gated_project(tmp_path / "project", "  - metric: val_auc >= 0.85\n"
                                                "  - metric: val_auc about 0.9\n")
    with pytest.raises(ConfigError, match=r"retrain.yaml:7: gates.1.metric: requirement "
                                          r"'val_auc about 0.9' is not METRIC OP VALUE"):
        wb.promote("churn", run_id=trained(0.9), approver="ana", reason="r", root=root)
    _gated_project(root, "  - {mode: min}\n")
    with pytest.raises(ConfigError, match="a gate needs one of metric:"):
        wb.promote("churn", run_id=trained(0.9), approver="ana", reason="r", root=root)
    assert tracking.search_registered_models() == []


def test_a_request_can_be_declined_once_and_then_not_approved(tracking: MlflowClient,
                                                              wb_home: Path) -> None:
    wb.promote("loan", run_id=trained(0.7), approver="ana", reason="v1")
    request = wb.promote("loan", run_id=trained(0.9), approver="ana", reason="v2",
                         four_eyes=True)
    done = workbench("decline", request.request_id, "--approver", "bo", "--reason",
                     "holdout too small", home=wb_home)
    assert done.returncode == 0, done.stderr
    assert "declined by bo; nothing moved" in done.stdout
    with pytest.raises(ConfigError, match=r"loan/2 was already decided \(declined by bo\)"):
        wb.approve(request.request_id, approver="cy", reason="I like it")
    with pytest.raises(ConfigError, match="already decided"):
        wb.decline(request.request_id, approver="cy", reason="again")
    assert champion(tracking, "loan") == "1"
    assert [e["action"] for e in wb.history("loan")] == ["promoted", "requested", "declined"]
    assert workbench("history", "loan", "--verify", home=wb_home).returncode == 0
    assert "pending" not in workbench("history", "loan", home=wb_home).stdout


def test_a_prompt_of_that_name_is_refused_and_left_alone(tracking: MlflowClient) -> None:
    """Registry writes skip MLflow's per-write prompt check (a whole-model read each): the one
    read each write path makes must still refuse a prompt's name, touching nothing."""
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}")
    before = mlflow.genai.load_prompt("prompts:/greeting/1")
    with pytest.raises(ConfigError, match="no registered model 'greeting'"):
        wb.promote("greeting", run_id=trained(0.8), approver="ana", reason="not a model")
    after = mlflow.genai.load_prompt("prompts:/greeting/1")
    assert (after.template, after.tags) == (before.template, before.tags)
    assert not tracking.search_model_versions("name = 'greeting'")
