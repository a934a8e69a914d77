"""Every route of the REST API and the dashboards asks Jupyter who is calling and the authorizer
whether they may: derived from the route table, so a handler added without its checks fails."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tornado.web
from jupyter_server.auth import authorized
from jupyter_server.auth.authorizer import AllowAllAuthorizer
from jupyter_server.serverapp import _has_tornado_web_authenticated
from tornado.httpclient import HTTPClientError

from tests.extension.conftest import DenyWorkbench, as_user, notebook
from tests.promotion.runs import model_run
from workbench_lab.handlers import WorkbenchHandler, routes

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
HANDLERS = sorted({handler for _, handler, _ in routes("/")}, key=lambda h: h.__name__)


def _missing_checks(handler: type) -> list[str]:
    """What each verb of `handler` lacks: @tornado.web.authenticated outermost (jupyter_server
    2's @authorized alone refuses anonymous users only with a warning, and
    allow_unauthenticated_access=True would let them in), then @authorized asking about
    `workbench:<area>`."""
    found = []
    for verb in (m for m in METHODS if m in vars(handler)):
        method = vars(handler)[verb]
        where = f"{handler.__name__}.{verb}"
        if not _has_tornado_web_authenticated(method):
            found.append(f"{where}: not wrapped by @tornado.web.authenticated (outermost)")
        inner = getattr(method, "__wrapped__", method)
        if not _is_authorized_check(inner):
            found.append(f"{where}: not wrapped by @authorized right inside @authenticated")
        elif _resource(handler, inner) != f"workbench:{getattr(handler, 'area', '?')}":
            found.append(f"{where}: authorized as {_resource(handler, inner)!r}, not as "
                         f"workbench:<its area>")
    return found


def _is_authorized_check(fn: Callable[..., Any]) -> bool:
    code = fn.__code__
    return code.co_qualname.startswith("authorized.") and \
        code.co_filename.replace("\\", "/").endswith("jupyter_server/auth/decorator.py")


def _resource(handler: type, check: Callable[..., Any]) -> str | None:
    """The resource @authorized asks about: the one it was given, else the handler's
    auth_resource (read from an instance never initialised: it needs the class only)."""
    cells = dict(zip(check.__code__.co_freevars, check.__closure__ or (), strict=True))
    given = cells["resource"].cell_contents
    return str(given) if given else getattr(object.__new__(handler), "auth_resource", None)


@pytest.mark.parametrize("handler", HANDLERS, ids=[h.__name__ for h in HANDLERS])
def test_each_verb_is_authenticated_then_authorized_as_its_area(handler: type) -> None:
    assert _missing_checks(handler) == []


def test_the_check_finds_a_verb_without_its_checks() -> None:
    class Careless(WorkbenchHandler):
        area = "runs"

        @authorized
        async def get(self) -> None: ...

        @tornado.web.authenticated
        async def post(self) -> None: ...

        @tornado.web.authenticated
        @authorized(resource="workbench:models")
        async def put(self) -> None: ...

        @tornado.web.authenticated
        @authorized
        async def delete(self) -> None: ...

    said = dict(line.split(": ", 1) for line in reversed(_missing_checks(Careless)))
    assert sorted(said) == ["Careless.get", "Careless.post", "Careless.put"]
    assert "@tornado.web.authenticated" in said["Careless.get"]
    assert "@authorized" in said["Careless.post"]
    assert "'workbench:models'" in said["Careless.put"]


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
    handlers = {re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p).split("/workbench/api", 1)[-1]: h
                for p, h, _ in routes("/")}
    for path, ops in spec["paths"].items():
        for method, op in ((m, o) for m, o in ops.items() if m in METHODS):
            # the contract's resource is the one an authorizer is asked about
            assert op.get("x-resource") == f"workbench:{handlers[path].area}", (path, method)
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

    async def test_nothing_changes(self, jp_fetch: Any, jp_serverapp: Any, wb_home: Path,
                                   lab_root: Path, registry: Registry) -> None:
        from workbench.tracking.store import tracking_client

        client = tracking_client()
        before = _run_ids(client)
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("workbench", "api", "jobs", method="POST",
                           body=json.dumps({"path": "pilot.ipynb", "params": {}}))
        assert refused.value.code == 403
        await _refused_then_done(jp_fetch, registry, {}, lambda: _allow(jp_serverapp))
        assert _run_ids(client) == before  # no job ran


async def test_without_a_token_nothing_changes(jp_fetch: Any, wb_home: Path,
                                               registry: Registry) -> None:
    await _refused_then_done(jp_fetch, registry, {"Authorization": ""}, lambda: None)


@dataclass
class Registry:
    """Model churn with a champion, a four-eyes request (by alice) waiting, and a finished
    run with a model that is not yet promoted: a real POST of each write changes it."""

    request_id: str
    candidate: str
    root: Path

    def state(self) -> tuple[Any, ...]:
        """What a write would change: the champion, the versions, the history, the requests."""
        import workbench as wb
        from workbench.tracking.store import tracking_client

        versions = sorted(int(v.version) for v in
                          tracking_client().search_model_versions("name = 'churn'"))
        return (wb.champion("churn"), versions, len(wb.history("churn")),
                [e["seq"] for e in wb.pending("churn")],
                sorted(p.name for p in (self.root / "pipelines").glob("*")))


@pytest.fixture
def registry(wb_home: Path, lab_root: Path) -> Registry:
    import workbench as wb

    notebook(lab_root / "pilot.ipynb", "rows = 10\nscale = 2.0")
    wb.promote("churn", run_id=model_run(0.8), approver="alice", reason="first",
               root=lab_root)
    asked = wb.promote("churn", run_id=model_run(0.85), approver="alice", reason="better",
                       four_eyes=True, root=lab_root)
    return Registry(asked.request_id, model_run(0.9), lab_root)


async def _refused_then_done(jp_fetch: Any, registry: Registry, headers: dict[str, str],
                             allow: Callable[[], None]) -> None:
    """The approval (by bob) and the promotion are refused (403) and change nothing; then,
    allowed and signed in, the very same requests do change the registry (so they could)."""
    writes = [("approvals", {"request_id": registry.request_id, "decision": "approve",
                             "reason": "checked"}, "bob"),
              ("promotions", {"model": "churn", "run_id": registry.candidate,
                              "reason": "best yet", "notebook": "pilot.ipynb"}, "alice")]
    before = registry.state()
    assert before == ("1", [1], 2, [2], [])
    for path, body, _ in writes:
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("workbench", "api", path, method="POST", body=json.dumps(body),
                           headers={**as_user("bob"), **headers} if path == "approvals"
                           else headers)
        assert refused.value.code == 403, path
        assert registry.state() == before, path
    allow()
    for path, body, user in writes:
        await jp_fetch("workbench", "api", path, method="POST", body=json.dumps(body),
                       headers=as_user(user))
    assert registry.state() == ("3", [1, 2, 3], 4, [], ["churn.yaml"])


def _allow(server: Any) -> None:
    """The server's authorizer swapped for Jupyter's default one (allows every signed-in
    user): handlers read it from the settings on each request."""
    server.web_app.settings["authorizer"] = AllowAllAuthorizer(
        parent=server, identity_provider=server.identity_provider)


def _run_ids(client: Any) -> list[str]:
    return [r.info.run_id for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()])]


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
