"""Every route of the REST API and the dashboards asks Jupyter who is calling and the authorizer
whether they may: derived from the route table, so a handler added without its checks fails."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.extension.conftest import DenyWorkbench
from workbench_lab.handlers import routes

METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = {"run_id": "0123456789abcdef0123456789abcdef", "name": "churn", "version": "1",
           "app": "cockpit"}


def _calls() -> list[tuple[str, str]]:
    """(url path under the base url, method) for every method every handler defines."""
    found = []
    for pattern, handler, _ in routes("/"):
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLES[m.group(1)], pattern)
        for method in METHODS:
            if method in vars(handler):
                found.append((path.lstrip("/"), method.upper()))
    return found


CALLS = _calls()


def test_the_table_covers_the_contract() -> None:
    """The routes rest_api.yml describes are the routes served, method for method."""
    import yaml

    spec = yaml.safe_load((Path(routes.__code__.co_filename).parent / "rest_api.yml")
                          .read_text())
    described = {(f"workbench/api{path}", m.upper()) for path, ops in spec["paths"].items()
                 for m in ops if m in METHODS}
    served = {(re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p).lstrip("/"), m.upper())
              for p, h, _ in routes("/") if "/api/" in p for m in METHODS if m in vars(h)}
    assert described == served
    for route in ("runs", "runs/{run_id}", "models", "models/{name}/history", "jobs",
                  "jobs/{run_id}", "drift/{run_id}", "promotions", "approvals"):
        assert any(path == f"workbench/api/{route}" for path, _ in served), route


async def _status(jp_fetch: Any, path: str, method: str, **kw: Any) -> int:
    """The status a call gets; an API refusal must say why as {"error": ...}."""
    body = "{}" if method in ("POST", "PUT", "PATCH") else None
    try:
        response = await jp_fetch(path, method=method, body=body, follow_redirects=False, **kw)
    except HTTPClientError as exc:
        if path.startswith("workbench/api"):
            assert exc.response is not None
            assert json.loads(exc.response.body)["error"]
        return exc.code
    return response.code


@pytest.mark.parametrize(("path", "method"), CALLS, ids=[f"{m} {p}" for p, m in CALLS])
async def test_without_a_token_it_is_refused(jp_fetch: Any, wb_home: Path, path: str,
                                             method: str) -> None:
    code = await _status(jp_fetch, path, method, headers={"Authorization": ""})
    # the API says 403; a page (a dashboard) sends the browser to the login page instead
    assert code == 403 or (code == 302 and not path.startswith("workbench/api"))


class TestADenyingAuthorizer:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: dict[str, Any]) -> dict[str, Any]:
        return {"ServerApp": {**jp_server_config["ServerApp"],
                              "authorizer_class": DenyWorkbench}}

    @pytest.mark.parametrize(("path", "method"), CALLS, ids=[f"{m} {p}" for p, m in CALLS])
    async def test_it_is_refused(self, jp_fetch: Any, wb_home: Path, path: str,
                                 method: str) -> None:
        assert await _status(jp_fetch, path, method) == 403

    async def test_nothing_changes(self, jp_fetch: Any, wb_home: Path, lab_root: Path) -> None:
        from tests.extension.conftest import notebook
        from workbench.tracking.store import tracking_client

        notebook(lab_root / "pilot.ipynb", "rows = 10\nscale = 2.0")
        client = tracking_client()
        before = [r.info.run_id for r in client.search_runs(
            [e.experiment_id for e in client.search_experiments()])]
        for path, body in (("jobs", {"path": "pilot.ipynb", "params": {}}),
                           ("promotions", {"model": "churn", "run_id": "x", "reason": "r",
                                           "notebook": "pilot.ipynb"}),
                           ("approvals", {"request_id": "churn/1", "decision": "approve",
                                          "reason": "r"})):
            with pytest.raises(HTTPClientError) as refused:
                await jp_fetch("workbench", "api", path, method="POST", body=json.dumps(body))
            assert refused.value.code == 403
        after = [r.info.run_id for r in client.search_runs(
            [e.experiment_id for e in client.search_experiments()])]
        assert after == before
        assert client.search_registered_models() == []
        assert not (lab_root / "pipelines").exists()


async def test_a_post_with_the_cookie_but_no_xsrf_token_is_refused(
        jp_fetch: Any, wb_home: Path) -> None:
    """A page elsewhere cannot make a signed-in browser post to the API (XSRF)."""
    signed_in = await jp_fetch("workbench", "api", "whoami")
    cookie = "; ".join(c.split(";")[0] for c in signed_in.headers.get_list("Set-Cookie"))
    assert cookie
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("workbench", "api", "config", method="POST", body="{}",
                       headers={"Authorization": "", "Cookie": cookie})
    assert refused.value.code == 403
    said = await jp_fetch("workbench", "api", "whoami", headers={"Authorization": "",
                                                                 "Cookie": cookie})
    assert json.loads(said.body)["user"] == "alice"  # the cookie alone does sign a GET in
