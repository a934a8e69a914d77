"""Workbench in JupyterLab: the server extension (the REST API under /workbench/api/ and the
dashboards under /workbench/apps/) and, in `labextension/`, the built frontend."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "workbench-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench_lab"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from workbench_lab.handlers import routes

    web_app = server_app.web_app
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"]))
    server_app.log.info("workbench-lab: REST API at %sworkbench/api/",
                        web_app.settings["base_url"])
