"""What a promotion leaves behind: the record (who, why, gates, evidence) and who acted."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import ConfigError
from workbench.promotion import registry
from workbench.promotion.gates import GateResult


@dataclass
class PromotionRecord:
    model: str
    version: str
    previous_version: str | None
    alias: str
    run_id: str
    approver: str
    reason: str
    at: str
    gates: list[GateResult] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = [g.to_dict() for g in self.gates]
        return out


@dataclass
class PromotionRequest:
    """A promotion waiting for a second person (four-eyes policy): nothing moved yet."""

    request_id: str  # "MODEL/N": `workbench approve MODEL/N --approver WHO --reason WHY`
    model: str
    run_id: str
    requester: str
    reason: str
    at: str
    expected_champion: str | None
    gates: list[GateResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gates"] = [g.to_dict() for g in self.gates]
        return out


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Actor:
    """Who acts: the name recorded as approver or requester, and the tracking-server login
    that a governing server verified (None where no server did: the embedded store)."""

    name: str
    login: str | None = None

    @property
    def verified(self) -> bool:
        return self.login is not None

    def fields(self) -> dict[str, Any]:
        """What the history entry and the record say of the identity."""
        return {"authenticated": self.login, "identity": "verified by the tracking server"
                if self.verified else "not verified (no governing tracking server)"}


def _required(name: str | None, reason: str, what: str, login: str | None = None) -> str:
    if not reason.strip() or not (name or login or "").strip():
        flag = "--reason" if login else "--approver, --reason"
        raise ConfigError(f"{what} needs {'a reason' if login else 'an approver and a reason'} "
                          f"({flag})")
    return " ".join((name or login or "").split())


def local_actor(name: str | None, reason: str, what: str = "a promotion") -> Actor:
    """The caller on a store no server governs: the name they give, recorded as unverified."""
    return Actor(_required(name, reason, what))


def verified_actor(login: str, name: str | None, reason: str, what: str = "a promotion"
                   ) -> Actor:
    """The login a governing server authenticated; `name`, when given, must be that login."""
    from workbench.promotion.ledger import same_person

    claimed = _required(name, reason, what, login)
    if name and name.strip() and not same_person(claimed, login):
        raise ConfigError(f"--approver {claimed!r} is not you: the tracking server signed you "
                          f"in as {login!r}; leave --approver out (it defaults to your login)")
    return Actor(login, login)


def evidence(run: Any) -> dict[str, Any]:
    """What an auditor asks: data, code, environment, notebook, seed."""
    tags = run.data.tags
    datasets = [{"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
                for d in (run.inputs.dataset_inputs if run.inputs else [])]
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
            "git_commit": tags.get("mlflow.source.git.commit") or tags.get("workbench.git.commit"),
            "git_dirty": tags.get("workbench.git.dirty"),
            "git_dirty_files": tags.get("workbench.git.dirty_files"),
            "source": tags.get("workbench.source"),
            "source_sha256": tags.get("workbench.source.sha256"),
            "notebook": tags.get("workbench.notebook"),
            "notebook_sha256": tags.get("workbench.notebook.sha256"),
            "pipeline_run": tags.get("workbench.pipeline_run"),
            "seed": tags.get("workbench.seed"),
            "datasets": datasets, "environment_lock": f"runs:/{run.info.run_id}/environment/"
                                                      "requirements.lock",
            "metrics": dict(run.data.metrics)}


def approval_tags(record: PromotionRecord) -> dict[str, str]:
    """The approval record as version tags, each within MLflow's limit (the whole record is
    the dossier artifact on the run)."""
    gates_text = json.dumps([{"gate": g.gate, "passed": g.passed, "detail": g.detail[:300]}
                             for g in record.gates])
    if len(gates_text) > registry.TAG_LIMIT:  # hundreds of gates: the record has them all
        gates_text = json.dumps([{"gate": g.gate[:100], "passed": g.passed}
                                 for g in record.gates][:30])
    return {"workbench.approved_by": record.approver, "workbench.approved_at": record.at,
            "workbench.approval_reason": registry.fit_tag(record.reason),
            "workbench.previous_champion": record.previous_version or "",
            "workbench.gates": gates_text,
            "workbench.git_commit": str(record.evidence.get("git_commit") or ""),
            "workbench.notebook": str(record.evidence.get("notebook") or ""),
            "workbench.notebook_sha256": str(record.evidence.get("notebook_sha256") or ""),
            "workbench.dataset_digests": ",".join(str(d["digest"]) for d in
                                                  record.evidence.get("datasets", []))}
