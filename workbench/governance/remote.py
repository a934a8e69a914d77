"""The client of a governing tracking server: finds its governance endpoints and calls them.

`governing_server()` asks the configured tracking server once per process whether it serves
workbench governance (`GET /api/2.0/workbench/governance/info`); a plain MLflow server
answers 404 (403 under basic auth), and then promotion runs in the caller's process as on the
embedded store. A governing server does promotions, decisions, rollbacks, unlocks and policy
changes itself, as the login it verified. Its refusals come back as the same exceptions,
one line each; a server that does not answer is an UnreachableError, never a quiet fallback.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.errors import (
    ConfigError,
    PromotionConflict,
    PromotionRefused,
    UnreachableError,
    WorkbenchError,
)
from workbench.governance.login import current_login

PREFIX = "/api/2.0/workbench/governance"
TIMEOUT_S = 900.0  # a gate may score two models on evaluation data
_FOUND: dict[str, bool] = {}
ERRORS: dict[str, type[WorkbenchError]] = {
    "PromotionRefused": PromotionRefused, "PromotionConflict": PromotionConflict,
    "ConfigError": ConfigError}


def governing_server(tracking_uri: str | None = None) -> GovernanceServer | None:
    """The governing server behind the tracking URI, or None (embedded store, plain MLflow)."""
    from workbench.config import settings

    uri = (tracking_uri or settings().tracking_uri).rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return None
    if uri not in _FOUND:
        _FOUND[uri] = _serves_governance(uri)
    return GovernanceServer(uri) if _FOUND[uri] else None


def _serves_governance(uri: str) -> bool:
    try:
        GovernanceServer(uri).call("GET", "info")
    except _NotServed:
        return False
    return True


class _NotServed(Exception):
    """The server has no governance endpoints (plain MLflow)."""


class GovernanceServer:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def call(self, method: str, route: str, body: Mapping[str, Any] | None = None) -> Any:
        from workbench.tracking.store import display_uri

        login = current_login()
        headers = {"Content-Type": "application/json", **(login.header() if login else {})}
        data = json.dumps(body or {}, default=str).encode() if method != "GET" else None
        request = urllib.request.Request(f"{self.uri}{PREFIX}/{route}", data=data,
                                         headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise self._error(exc, route) from None
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnreachableError(f"cannot reach the tracking server at {display_uri(self.uri)}"
                                   f" ({reason}); nothing was changed: start it, or check "
                                   "MLFLOW_TRACKING_URI") from None

    def _error(self, exc: urllib.error.HTTPError, route: str) -> Exception:
        from workbench.services.mlflow_server import unauthorized

        raw = exc.read().decode(errors="replace")
        try:
            found = json.loads(raw)
        except ValueError:
            found = None
        if isinstance(found, dict) and "workbench_error" in found:
            kind = ERRORS.get(str(found["workbench_error"]), ConfigError)
            return kind(str(found.get("message", "")).splitlines()[0])
        if exc.code == 401:
            return ConfigError(unauthorized(self.uri))
        if route == "info" and exc.code in (403, 404):
            return _NotServed()
        first = raw.strip().splitlines()[0][:200] if raw.strip() else exc.reason
        return ConfigError(f"the tracking server answered {exc.code} to {route} ({first})")

    # --- the governance calls -------------------------------------------------------------

    def promote(self, model: str, *, run_id: str, approver: str | None, reason: str,
                require: Sequence[str], beat_champion: str | None, margin: float, mode: str,
                expect_version: Any, four_eyes: bool, production_data: Any,
                training_data: Any, spec_data: Any, spec_gates: dict[str, Any] | None) -> Any:
        from workbench.promotion.promote import UNSET

        body: dict[str, Any] = {
            "model": model, "run_id": run_id, "approver": approver, "reason": reason,
            "require": list(require), "beat_champion": beat_champion, "margin": margin,
            "mode": mode, "four_eyes": four_eyes, "spec_gates": spec_gates,
            "production_data": _path(production_data, "--production-data"),
            "training_data": _path(training_data, "--training-data"),
            "spec_data": _path(spec_data, None)}
        if expect_version is not UNSET:
            body["expect_version"] = None if expect_version is None else str(expect_version)
        return _outcome(self.call("POST", "promote", body))

    def preview(self, model: str, *, run_id: str, require: Sequence[str],
                beat_champion: str | None, margin: float, mode: str, production_data: Any,
                training_data: Any, spec_gates: dict[str, Any] | None) -> Any:
        from workbench.promotion.gates import GateResult

        found = self.call("POST", "preview", {
            "model": model, "run_id": run_id, "require": list(require),
            "beat_champion": beat_champion, "margin": margin, "mode": mode,
            "production_data": _path(production_data, "--production-data"),
            "training_data": _path(training_data, "--training-data"), "spec_gates": spec_gates})
        return [GateResult(**g) for g in found["gates"]]

    def approve(self, request_id: str, *, approver: str | None, reason: str) -> Any:
        return _outcome(self.call("POST", "approve", {"request_id": request_id,
                                                      "approver": approver, "reason": reason}))

    def decline(self, request_id: str, *, approver: str | None, reason: str) -> Any:
        return self.call("POST", "decline", {"request_id": request_id, "approver": approver,
                                             "reason": reason})

    def rollback(self, model: str, *, approver: str | None, reason: str,
                 to_version: str | int | None) -> Any:
        return self.call("POST", "rollback", {
            "model": model, "approver": approver, "reason": reason,
            "to_version": None if to_version is None else str(to_version)})

    def unlock(self, model: str, *, approver: str | None, reason: str) -> Any:
        return self.call("POST", "unlock", {"model": model, "approver": approver,
                                            "reason": reason})

    def policy(self, model: str, *, reason: str, four_eyes: bool | None,
               rollback: str | None, gates: dict[str, Any] | None) -> Any:
        return self.call("POST", "policy", {"model": model, "reason": reason,
                                            "four_eyes": four_eyes, "rollback": rollback,
                                            "gates": gates})

    def adopt(self, model: str, *, reason: str) -> Any:
        return self.call("POST", "adopt", {"model": model, "reason": reason})

    def verify(self, model: str) -> Any:
        return self.call("POST", "verify", {"model": model})

    def whoami(self) -> dict[str, Any]:
        return dict(self.call("GET", "info"))


def _path(value: Any, flag: str | None) -> str | None:
    """A data argument as the server reads it: an absolute path (resolved where it was typed).
    A DataFrame cannot travel: name a file (the monitor's window, `flag` None, is left out:
    the server then reads the policy's drift.data)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.path.abspath(os.fspath(value))
    if flag is None:
        return None
    raise ConfigError(f"a governing tracking server reads {flag} from a file: write the frame "
                      "to a Parquet or CSV file the server can read and pass its path")


def _outcome(found: Mapping[str, Any]) -> Any:
    """A promotion's answer as the local API returns it: a record, or a pending request."""
    from workbench.promotion.gates import GateResult
    from workbench.promotion.records import PromotionRecord, PromotionRequest

    data = dict(found["record"])
    data["gates"] = [GateResult(**g) for g in data.get("gates", [])]
    if found["outcome"] == "requested":
        return PromotionRequest(**data)
    return PromotionRecord(**data)
