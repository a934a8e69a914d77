"""The REST API under /workbench/api/ (its contract: rest_api.yml): thin wrappers over
`workbench`, each route authenticated (Jupyter's token or cookie) and authorized against
`workbench:<area>`, each error one JSON line `{"error": ...}`.

Store and cluster calls block, so they run on a small thread pool: the server's event loop
(kernels, the file browser, other users) never waits on MLflow.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from pydantic import BaseModel, ConfigDict, ValidationError

from workbench.errors import ConfigError, PromotionConflict, PromotionRefused, WorkbenchError
from workbench_lab import views
from workbench_lab.paths import inside_root

T = TypeVar("T")
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="workbench-api")
RUN_ID = r"(?P<run_id>[A-Za-z0-9_-]{1,64})"
APPS = ("cockpit", "runs", "training", "drift", "promotion")


class WorkbenchHandler(APIHandler):
    """JSON in and out; `area` names the resource an authorizer is asked about."""

    area: ClassVar[str]
    started = 0.0

    async def prepare(self) -> None:  # type: ignore[override]
        self.started = time.perf_counter()
        await super().prepare()

    @property
    def auth_resource(self) -> str:  # read by @authorized
        return f"workbench:{self.area}"

    @property
    def root(self) -> Path:
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    @property
    def user_name(self) -> str:
        user = self.current_user
        return str(getattr(user, "display_name", None) or getattr(user, "name", None) or
                   getattr(user, "username", "unknown"))

    @property
    def user_id(self) -> str:
        """Jupyter's user name: what its identity provider says, which `PATCH /api/me`
        (display names) cannot change."""
        return str(getattr(self.current_user, "username", self.user_name))

    @property
    def anonymous(self) -> bool:
        """Is Jupyter's identity its default, anonymous one (every token request a new
        random user)? Then nobody's identity is known here."""
        from jupyter_server.auth import IdentityProvider

        kind = type(self.identity_provider)
        return all(getattr(kind, name) is getattr(IdentityProvider, name)
                   for name in ("get_user", "get_user_token", "generate_anonymous_user"))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_pool, functools.partial(fn, *args, **kwargs))

    def body(self, model: type[BaseModel]) -> Any:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "the body is not JSON; send a JSON object") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise tornado.web.HTTPError(400, f"{where}: {first['msg']}") from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        text = json.dumps(data, default=str)
        # the time this server spent (what the benchmark compares), as browsers' devtools show
        took = (time.perf_counter() - self.started) * 1000
        self.set_header("Server-Timing", f"app;dur={took:.1f}")
        self.finish(text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) if isinstance(
            exc, tornado.web.HTTPError) else None
        if not message:
            message = self._reason if status_code < 500 else \
                f"internal error ({type(exc).__name__ if exc else status_code}); see the " \
                "Jupyter server's log"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
            return  # a refused request is the caller's to read, not a server fault
        super().log_exception(typ, value, tb)


def refusals(method: Callable[..., Any]) -> Callable[..., Any]:
    """Our errors as HTTP statuses with their one line: bad input 400, unknown 404, a refused
    or conflicting promotion 409, a store or cluster away 503."""

    @functools.wraps(method)
    async def inner(self: WorkbenchHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except LookupError as exc:
            raise tornado.web.HTTPError(404, _line(exc)) from None
        except (PromotionRefused, PromotionConflict) as exc:
            raise tornado.web.HTTPError(409, _line(exc)) from None
        except ConfigError as exc:
            raise tornado.web.HTTPError(400, _line(exc)) from None
        except WorkbenchError as exc:
            raise tornado.web.HTTPError(503, _line(exc)) from None

    return inner


def _line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:1000]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobBody(Strict):
    path: str
    params: dict[str, Any] = {}


class PromotionBody(Strict):
    model: str
    run_id: str
    reason: str = ""
    notebook: str | None = None
    four_eyes: bool = False
    preview: bool = False
    require: list[str] = []


class ApprovalBody(Strict):
    request_id: str
    decision: str
    reason: str


class ConfigBody(Strict):
    tracking_uri: str = ""
    scheduler_address: str = ""


class Overview(WorkbenchHandler):
    area = "runs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        # the sidebar's experiment filter: an id of the experiments it was sent
        experiment = self.get_argument("experiment", "") or None
        if experiment is not None and len(experiment) > 256:
            raise ConfigError("experiment must be an experiment id from the overview's list")
        self.reply(await self.call(views.overview, self.root, experiment))


class WhoAmI(WorkbenchHandler):
    area = "runs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        self.reply({"user": self.user_name, "id": self.user_id})


class Runs(WorkbenchHandler):
    area = "runs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        size = self.get_argument("page_size", "50")
        if not size.isdigit():
            raise ConfigError(f"page_size must be a whole number (1 to 1000), got {size!r}")
        self.reply(await self.call(
            views.runs, self.get_arguments("experiment") or None,
            self.get_argument("filter", ""), self.get_arguments("order"),
            self.get_argument("status", None), self.get_argument("page_token", None),
            int(size)))


class Run(WorkbenchHandler):
    area = "runs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(views.run, run_id, self.root))


class Models(WorkbenchHandler):
    area = "models"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        from workbench.overview import model_overview

        self.reply({"models": await self.call(model_overview)})


class ModelHistory(WorkbenchHandler):
    area = "models"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self, name: str) -> None:
        self.reply(await self.call(views.model_history, name))


class Dossier(WorkbenchHandler):
    area = "models"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self, name: str, version: str) -> None:
        self.reply(await self.call(views.dossier_html, name, version))


class NotebookParameters(WorkbenchHandler):
    area = "jobs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        notebook = inside_root(self.root, self.get_argument("path", ""), what="notebook path")
        self.reply(await self.call(views.parameters, notebook, self.root))


class Jobs(WorkbenchHandler):
    area = "jobs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self) -> None:
        body = self.body(JobBody)
        notebook = inside_root(self.root, body.path, what="notebook path")
        if not notebook.is_file():
            raise ConfigError(f"notebook {body.path!r} does not exist; save it first")
        self.reply(await self.call(views.submit_job, notebook, body.params, self.root), 201)


class Job(WorkbenchHandler):
    area = "jobs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(views.job, run_id))


class OpenJob(WorkbenchHandler):
    area = "jobs"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self, run_id: str) -> None:
        self.reply(await self.call(views.open_job, run_id, self.root))


class Drift(WorkbenchHandler):
    area = "drift"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(views.drift, run_id))


class Promotions(WorkbenchHandler):
    area = "promote"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self) -> None:
        body = self.body(PromotionBody)
        notebook = None if body.notebook is None else \
            inside_root(self.root, body.notebook, what="notebook path")
        outcome = await self.call(views.promote, body.model, body.run_id, body.reason,
                                  self.root, notebook=notebook, four_eyes=body.four_eyes,
                                  preview=body.preview, require=body.require,
                                  user_id=self.user_id, anonymous=self.anonymous)
        self.reply(outcome, 200 if body.preview else 201)


class Approvals(WorkbenchHandler):
    area = "promote"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self) -> None:
        body = self.body(ApprovalBody)
        if body.decision not in ("approve", "decline"):
            raise ConfigError(f"decision must be 'approve' or 'decline', got {body.decision!r}")
        self.reply(await self.call(views.decide, body.request_id, body.decision, body.reason,
                                   user_id=self.user_id, anonymous=self.anonymous))


class Config(WorkbenchHandler):
    """Where this server's calls go: Lab's settings send the tracking URI and the scheduler.
    It is the server's environment, so it moves them for every user of this server: its own
    area, for an authorizer to keep to admins."""

    area = "config"

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        self.reply(views.where())

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self) -> None:
        body = self.body(ConfigBody)
        changed = views.configure(body.tracking_uri, body.scheduler_address)
        if changed:  # every user's calls move: the log says who moved them
            self.log.info("workbench-lab: %s set %s", self.user_name, ", ".join(changed))
        self.reply(views.where())


class PanelApp(JupyterHandler):
    """/workbench/apps/NAME: the dashboard, rendered by Panel's own server extension in a
    kernel of this server (so behind this server's login): a two-line launcher in the root's
    .workbench/lab-apps/ names it, since Panel renders files under the root only."""

    area: ClassVar[str] = "dashboards"
    auth_resource = f"workbench:{area}"

    @tornado.web.authenticated
    @authorized
    def get(self, app: str) -> None:
        if app not in APPS:
            raise tornado.web.HTTPError(404, f"no dashboard {app!r}; pick one of "
                                        f"{', '.join(APPS)}")
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        launcher = views.app_launcher(root, app)
        query = f"?{self.request.query}" if self.request.query else ""
        self.redirect(f"{self.base_url}panel-preview/render/"
                      f"{launcher.relative_to(root).as_posix()}{query}")


def routes(base_url: str) -> list[tuple[str, type, dict[str, Any]]]:
    api = f"{base_url.rstrip('/')}/workbench/api"
    table: list[tuple[str, type]] = [
        ("overview", Overview), ("whoami", WhoAmI), ("runs", Runs), (f"runs/{RUN_ID}", Run),
        ("models", Models), ("models/(?P<name>[^/]+)/history", ModelHistory),
        ("dossier/(?P<name>[^/]+)/(?P<version>[0-9]+)", Dossier),
        ("notebooks/parameters", NotebookParameters), ("jobs", Jobs),
        (f"jobs/{RUN_ID}", Job), (f"jobs/{RUN_ID}/open", OpenJob),
        (f"drift/{RUN_ID}", Drift), ("promotions", Promotions), ("approvals", Approvals),
        ("config", Config)]
    return [(f"{api}/{pattern}", handler, {}) for pattern, handler in table] + [
        (f"{base_url.rstrip('/')}/workbench/apps/(?P<app>[a-z]+)", PanelApp, {})]
