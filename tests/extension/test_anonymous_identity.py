"""Under Jupyter's default identity provider every token request is a new random
"Anonymous" user whom `PATCH /api/me` renames: nobody's identity is known, so a four-eyes
decision through Lab is refused in one line saying how to configure a real identity, and
nothing changes. A promotion without four eyes (one person's store) still works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.promotion.runs import model_run


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"workbench_lab": True}}}  # default identity


async def test_a_four_eyes_decision_needs_a_real_identity(jp_fetch: Any, wb_home: Path,
                                                         lab_root: Path) -> None:
    import workbench as wb

    wb.promote("churn", run_id=model_run(0.8), approver="alice", reason="v1", root=lab_root)
    asked = wb.promote("churn", run_id=model_run(0.9), approver="alice", reason="v2",
                       four_eyes=True, root=lab_root)
    await jp_fetch("api", "me", method="PATCH", body=json.dumps({"name": "bob"}))
    for path, body in (("approvals", {"request_id": asked.request_id,  # type: ignore[union-attr]
                                      "decision": "approve", "reason": "ok"}),
                       ("promotions", {"model": "churn", "run_id": model_run(0.95),
                                       "reason": "r", "four_eyes": True})):
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("workbench", "api", path, method="POST", body=json.dumps(body))
        said = json.loads(refused.value.response.body)  # type: ignore[union-attr]
        message = said.get("message") or said.get("error") or ""
        assert "a four-eyes decision needs a real identity" in message, said
        assert "ServerApp.identity_provider_class" in message and "\n" not in message
    assert wb.champion("churn") == "1" and len(wb.pending("churn")) == 1
    done = await jp_fetch("workbench", "api", "promotions", method="POST", body=json.dumps(
        {"model": "plain", "run_id": model_run(0.7), "reason": "first"}))
    assert json.loads(done.body)["outcome"] == "promoted"
