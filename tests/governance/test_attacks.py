"""Governance tried as an attacker would: two logins, alice and bob, on a real `workbench
services` stack (PostgreSQL, the tracking server as `--app-name workbench`), each acting in
a process of their own with MLflow's own client and workbench's API. Every way around the
rules that worked before this server enforced them is refused in one line and changes
nothing; what the rules allow still works."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_stack import WORKBENCH, services
from tests.stores import finish, spawn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PRELUDE = """
import json, sys
from mlflow import MlflowClient
import workbench as wb
from workbench.errors import WorkbenchError
from mlflow.exceptions import MlflowException
def attempt(fn):
    try:
        fn()
    except (WorkbenchError, MlflowException, TypeError) as exc:
        text = str(getattr(exc, "message", "") or exc).strip()
        found = {"refused": type(exc).__name__, "lines": len(text.splitlines()),
                 "why": text.splitlines()[0] if text else ""}
    else:
        found = {"done": True}
    print(json.dumps(found))
    return found
"""

MAKE_RUN = """
import sys
from tests.promotion.runs import model_run
print(model_run(float(sys.argv[1])))
"""


@pytest.fixture(scope="module")
def team(services_stack: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, dict[str, str]]]:
    """alice's and bob's environments (each a login `workbench services add-user` made), and
    the admin's; each person a host of their own (their own WORKBENCH_HOME)."""
    import uuid

    home, admin = services_stack
    people = {"admin": _env(admin, tmp_path_factory.mktemp("admin"))}
    for person in ("alice", "bob"):
        done = services(home, "add-user", f"{person}-{uuid.uuid4().hex[:6]}", "--json")
        assert done.returncode == 0, done.stderr
        people[person] = _env(json.loads(done.stdout)["env"],
                              tmp_path_factory.mktemp(person))
    yield people


def _env(services_env: dict[str, str], home: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    root = str(Path(__file__).resolve().parents[2])
    return {**env, **services_env, "WORKBENCH_HOME": str(home), "PYTHONWARNINGS": "ignore",
            "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))}


def act(env: dict[str, str], code: str, *args: str) -> Any:
    """Run `code` (after PRELUDE) as the person `env` signs in; its last stdout line, JSON."""
    code_, out, err = finish(spawn(PRELUDE + code, env, args=args), timeout_s=600)
    assert code_ == 0, err
    return json.loads(out.strip().splitlines()[-1])


def run_of(env: dict[str, str], auc: float) -> str:
    code, out, err = finish(spawn(MAKE_RUN, env, args=[str(auc)]), timeout_s=600)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def cli(env: dict[str, str], *args: str, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WORKBENCH, *args], env=env, text=True, capture_output=True,
                          timeout=600, cwd=cwd)


def refused(found: Any, *fragments: str) -> None:
    assert "refused" in found, found
    assert found["lines"] == 1, found
    for fragment in fragments:
        assert fragment in found["why"], found


def four_eyes_model(team: dict[str, dict[str, str]], name: str) -> str:
    """`name` with v1 champion (alice promoted it) and bob's policy of four eyes."""
    import uuid

    model = f"{name}-{uuid.uuid4().hex[:6]}"
    first = cli(team["alice"], "promote", model, "--run", run_of(team["alice"], 0.7),
                "--reason", "v1", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["version"] == "1"
    tighten = cli(team["alice"], "policy", model, "--four-eyes", "--reason", "credit model",
                  "--json")
    assert tighten.returncode == 0, tighten.stderr
    return model


def test_nobody_approves_as_someone_else_or_alone(team: dict[str, dict[str, str]]) -> None:
    alice, bob = team["alice"], team["bob"]
    model = four_eyes_model(team, "gov")
    request = act(alice, "r = wb.promote(sys.argv[1], run_id=sys.argv[2], reason='v2'); "
                         "print(json.dumps(r.to_dict()))", model, run_of(alice, 0.9))
    request_id = request["request_id"]
    assert request["requester"] == alice["MLFLOW_TRACKING_USERNAME"]
    bob_login = bob["MLFLOW_TRACKING_USERNAME"]
    # alice approves her own request, naming bob; the old keyword is gone
    refused(act(alice, "attempt(lambda: wb.approve(sys.argv[1], approver=sys.argv[2], "
                       "reason='x'))", request_id, bob_login),
            f"--approver {bob_login!r} is not you", alice["MLFLOW_TRACKING_USERNAME"])
    refused(act(alice, "attempt(lambda: wb.approve(sys.argv[1], approver=sys.argv[2], "
                       "reason='x', authenticated_user=sys.argv[2]))", request_id, bob_login),
            "authenticated_user")
    refused(act(alice, "attempt(lambda: wb.approve(sys.argv[1], reason='x'))", request_id),
            "requested this promotion and cannot approve it")
    assert act(alice, "print(json.dumps({'c': wb.champion(sys.argv[1])}))", model) == \
        {"c": "1"}
    # bob, with his own login, approves: the record names the logins the server verified
    approved = cli(bob, "approve", request_id, "--reason", "holdout checked", "--json")
    assert approved.returncode == 0, approved.stderr
    record = json.loads(approved.stdout)
    assert (record["version"], record["approver"]) == ("2", bob_login)
    assert record["evidence"]["authenticated"] == bob_login
    assert record["evidence"]["identity"] == "verified by the tracking server"
    verified = cli(bob, "history", model, "--verify")
    assert verified.returncode == 0 and "chain intact and keyed" in verified.stdout


GUARDED = {
    "move the champion": "c.set_registered_model_alias(m, 'champion', '1')",
    "delete the champion": "c.delete_registered_model_alias(m, 'champion')",
    "drop four eyes": "c.delete_registered_model_tag(m, 'workbench.policy.four_eyes')",
    "turn four eyes off": "c.set_registered_model_tag(m, 'workbench.policy.four_eyes', 'false')",
    "forge an approval": "c.set_model_version_tag(m, '1', 'workbench.approved_by', 'bob')",
    "delete a history entry": "c.delete_registered_model_tag(m, 'workbench.history.000002')",
    "delete a version": "c.delete_model_version(m, '2')",
    "delete the model": "c.delete_registered_model(m)",
    "rename the model": "c.rename_registered_model(m, m + '-mine')",
    "register a pre-approved version": "c.create_model_version(m, c.get_model_version(m, '1')"
                                       ".source, tags={'workbench.approved_by': 'bob'})",
}


def test_nobody_writes_governed_state_around_the_server(team: dict[str, dict[str, str]]
                                                       ) -> None:
    model = four_eyes_model(team, "guarded")
    attacks = "\n".join(f"tried[{name!r}] = attempt(lambda: {call})"
                         for name, call in GUARDED.items())
    for person in ("alice", "admin"):  # the admin too: the rule is the server's
        found = act(team[person], "c = MlflowClient(); m = sys.argv[1]; tried = {}\n"
                                  f"{attacks}\nprint(json.dumps(tried))", model)
        assert set(found) == set(GUARDED)
        for attack, answer in found.items():
            refused(answer, f"{model} is governed by workbench: no login may")
            assert any(f"workbench {verb}" in answer["why"] for verb in (
                "promote", "rollback", "policy")) or "use nothing" in answer["why"], attack
    state = act(team["bob"], "m = sys.argv[1]; c = MlflowClient()\n"
                             "print(json.dumps({'champion': wb.champion(m), 'policy': "
                             "wb.policy(m), 'ok': wb.verify_history(m).ok, 'versions': "
                             "len(c.search_model_versions(f\"name = '{m}'\"))}))", model)
    assert state["champion"] == "1" and state["ok"] and state["versions"] == 1
    assert state["policy"]["four_eyes"] is True and state["policy"]["governed"] is True
    # what is not governed stays open: a plain tag, a description
    plain = act(team["alice"], "c = MlflowClient(); m = sys.argv[1]\n"
                               "attempt(lambda: (c.set_registered_model_tag(m, 'team', 'risk'), "
                               "c.update_registered_model(m, description='credit')))", model)
    assert plain == {"done": True}


def test_a_finished_runs_metrics_are_the_ones_it_ended_with(team: dict[str, dict[str, str]]
                                                           ) -> None:
    alice = team["alice"]
    run_id = run_of(alice, 0.70)
    refused(act(alice, "attempt(lambda: MlflowClient().log_metric(sys.argv[1], 'val_auc', "
                       "0.95))", run_id), f"run {run_id} has ended (FINISHED)")
    refused(act(alice, "from mlflow.entities import Metric\n"
                       "attempt(lambda: MlflowClient().log_batch(sys.argv[1], metrics=["
                       "Metric('val_auc', 0.95, 0, 1)]))", run_id), "metrics written after")
    refused(act(alice, "attempt(lambda: MlflowClient().update_run(sys.argv[1], "
                       "status='RUNNING'))", run_id), "its status and end are fixed")
    done = cli(alice, "promote", f"metrics-{run_id[:6]}", "--run", run_id, "--reason", "r",
               "--require", "val_auc>=0.9")
    assert done.returncode == 1 and "val_auc = 0.7" in done.stderr
    # a run's params and tags, and its name, may still be written
    assert act(alice, "attempt(lambda: MlflowClient().set_tag(sys.argv[1], 'note', 'x'))",
               run_id) == {"done": True}


def test_the_gates_are_the_models_wherever_the_promotion_comes_from(
        team: dict[str, dict[str, str]], tmp_path: Path) -> None:
    import uuid

    alice, bob = team["alice"], team["bob"]
    model = f"gated-{uuid.uuid4().hex[:6]}"
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "retrain.yaml").write_text(
        f"name: retrain\nmodel: {model}\nsteps:\n  - {{name: train, function: 'steps:train'}}\n"
        "gates:\n  - metric: val_auc >= 0.9\n")
    held = cli(alice, "policy", model, "--from-spec", "--reason", "the team's bar", "--json",
               cwd=project)
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["policy"]["gates"]["metrics"] == ["val_auc>=0.9"]
    elsewhere = tmp_path / "elsewhere"  # no pipelines/ here
    elsewhere.mkdir()
    done = cli(bob, "promote", model, "--run", run_of(bob, 0.7), "--reason", "r",
               cwd=elsewhere)
    assert done.returncode == 1 and "metric val_auc>=0.9 (val_auc = 0.7)" in done.stderr
    # a spec edited to drop the gate does not drop it: relaxing is an admin's
    (project / "pipelines" / "retrain.yaml").write_text(
        f"name: retrain\nmodel: {model}\nsteps:\n  - {{name: train, function: 'steps:train'}}\n")
    again = cli(bob, "promote", model, "--run", run_of(bob, 0.7), "--reason", "r",
                cwd=project)
    assert again.returncode == 1 and "val_auc>=0.9" in again.stderr
    relaxed = cli(alice, "policy", model, "--from-spec", "--reason", "drop it", cwd=project)
    assert relaxed.returncode == 1
    assert "only an admin may relax the policy" in relaxed.stderr
    assert len(relaxed.stderr.strip().splitlines()) == 1
    by_admin = cli(team["admin"], "policy", model, "--from-spec", "--reason", "pilot ended",
                   "--json", cwd=project)
    assert by_admin.returncode == 0, by_admin.stderr
    entry = json.loads(by_admin.stdout)["entry"]
    assert entry["action"] == "policy" and entry["relaxed"] == ["gate dropped: metric "
                                                                "val_auc>=0.9"]


def test_only_the_owner_tightens_and_only_an_admin_relaxes(team: dict[str, dict[str, str]]
                                                          ) -> None:
    model = four_eyes_model(team, "policy")  # alice's model, four eyes on
    bob = cli(team["bob"], "policy", model, "--rollback", "four-eyes", "--reason", "mine now")
    assert bob.returncode == 1 and "only the owner of" in bob.stderr
    alice = cli(team["alice"], "policy", model, "--no-four-eyes", "--reason", "faster")
    assert alice.returncode == 1 and "only an admin may relax" in alice.stderr
    admin = cli(team["admin"], "policy", model, "--no-four-eyes", "--reason", "retired",
                "--json")
    assert admin.returncode == 0, admin.stderr
    shown = json.loads(cli(team["bob"], "policy", model, "--json").stdout)
    assert shown["four_eyes"] is False
    history = json.loads(cli(team["bob"], "history", model, "--json").stdout)
    assert [e["action"] for e in history][-2:] == ["policy", "policy"]
    assert history[-1]["authenticated"] == team["admin"]["MLFLOW_TRACKING_USERNAME"]


def test_a_model_governed_elsewhere_before_is_adopted_then_kept(
        team: dict[str, dict[str, str]]) -> None:
    """A model promoted before the server governed it (its history written by a client, as
    `workbench migrate` copies one) must be adopted first; then the server's key covers it."""
    import uuid

    alice = team["alice"]
    model = f"legacy-{uuid.uuid4().hex[:6]}"
    written = act(alice, "from workbench.promotion.promote import promote_as\n"
                         "from workbench.promotion.records import local_actor\n"
                         "c = MlflowClient()\n"
                         "promote_as(c, local_actor('alice', 'v1'), sys.argv[1], "
                         "run_id=sys.argv[2], reason='v1')\n"
                         "print(json.dumps({'done': True}))", model, run_of(alice, 0.7))
    assert written == {"done": True}
    first = cli(alice, "promote", model, "--run", run_of(alice, 0.8), "--reason", "v2")
    assert first.returncode == 1 and "workbench governance adopt" in first.stderr
    adopted = cli(alice, "governance", "adopt", model, "--reason", "under the server's rule",
                  "--json")
    assert adopted.returncode == 0, adopted.stderr
    assert json.loads(adopted.stdout)["entries_before"] == 1
    second = cli(alice, "promote", model, "--run", run_of(alice, 0.8), "--reason", "v2")
    assert second.returncode == 0, second.stderr
    verified = cli(team["bob"], "history", model, "--verify")
    assert "3 entries, chain intact and keyed" in verified.stdout
    refused(act(alice, "attempt(lambda: MlflowClient().set_registered_model_alias("
                       "sys.argv[1], 'champion', '1'))", model), "governed by workbench")


def test_a_server_that_is_down_is_one_line_and_nothing_falls_back(
        team: dict[str, dict[str, str]]) -> None:
    from tests.stores import free_port

    gone = {**team["alice"], "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    done = cli(gone, "promote", "anything", "--run", "0" * 32, "--reason", "r")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: cannot reach the")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_endpoints_are_described_and_need_a_login(services_stack: tuple[Path, Any]
                                                      ) -> None:
    import urllib.error
    import urllib.request

    import yaml

    import workbench.governance as package
    from workbench.governance.server import PREFIX, ROUTES

    spec = yaml.safe_load((Path(package.__file__).parent / "openapi.yml").read_text())
    described = {(path, method.upper()) for path, verbs in spec["paths"].items()
                 for method in verbs}
    served = {(PREFIX + route, method) for route, methods, _ in ROUTES for method in methods}
    assert described == served
    uri = services_stack[1]["MLFLOW_TRACKING_URI"]
    for path, method in sorted(served):
        request = urllib.request.Request(uri + path, method=method,
                                         data=b"{}" if method == "POST" else None)
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        assert answer.value.code == 401, path


def test_python_api_and_cli_need_no_identity_argument(team: dict[str, dict[str, str]]) -> None:
    """`--approver` defaults to the login; `workbench promote --help` says so."""
    shown = subprocess.run([sys.executable, "-m", "workbench.cli", "promote", "--help"],
                           text=True, capture_output=True, env=team["alice"])
    assert "your login" in " ".join(shown.stdout.split())
