"""`workbench dashboard --oauth-provider`: people log in through an OAuth provider (Panel's
generic one, against a small OAuth2 server of this test on loopback) and act as the identity
it returns; without a login nothing is served."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.apps.test_promotion_dashboard import status_without_login
from tests.browser import browser_page
from tests.cli.test_cli import workbench
from tests.cli.test_lab import free_port, service_env
from tests.helpers import wait_for

USER = "ana@example.org"


@contextmanager
def oauth_provider() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OAuth2 authorization server: /authorize sends the browser back with a code,
    /token trades it for an access token, /user tells who holds that token."""
    seen: list[dict[str, Any]] = []

    class Provider(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            seen.append({"path": url.path, **query,
                         "authorization": self.headers.get("Authorization")})
            if url.path == "/authorize":
                back = f"{query['redirect_uri']}?" + urllib.parse.urlencode(
                    {"code": "the-code", "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", back)
                self.end_headers()
            elif url.path == "/user" and self.headers.get("Authorization") == "Bearer tok-1":
                self._json({"email": USER, "name": "Ana"})
            else:
                self.send_error(401)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = dict(urllib.parse.parse_qsl(body))
            seen.append({"path": self.path, **form})
            if form.get("code") == "the-code" and form.get("client_secret") == "app-secret":
                self._json({"access_token": "tok-1", "token_type": "bearer",
                            "expires_in": 3600})
            else:
                self.send_error(401)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()


def test_oauth_needs_its_client_id_and_excludes_passwords(tmp_path: Path) -> None:
    both = workbench("dashboard", "--oauth-provider", "github", home=tmp_path / "wb",
                     cwd=tmp_path, env={"WORKBENCH_DASHBOARD_USERS": "a:b"})
    assert both.returncode == 1 and "not both" in both.stderr
    bare = workbench("dashboard", "--oauth-provider", "github", home=tmp_path / "wb",
                     cwd=tmp_path, env={"PANEL_OAUTH_KEY": ""})
    assert bare.returncode == 1 and "PANEL_OAUTH_KEY" in bare.stderr


@pytest.mark.timeout(300)
def test_a_person_logs_in_through_the_provider(wb_home: Path, tmp_path: Path) -> None:
    with oauth_provider() as (provider, seen):
        port = free_port()
        env = {**service_env(), "WORKBENCH_HOME": str(wb_home), "PANEL_OAUTH_KEY": "wb-app",
               "PANEL_OAUTH_SECRET": "app-secret",
               "PANEL_OAUTH_AUTHORIZE_URL": f"{provider}/authorize",
               "PANEL_OAUTH_TOKEN_URL": f"{provider}/token",
               "PANEL_OAUTH_USER_URL": f"{provider}/user"}
        with (tmp_path / "dashboard.log").open("w") as sink:
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("workbench")), "dashboard", "--port",
                 str(port), "--oauth-provider", "generic"],
                cwd=tmp_path, env=env, stdout=sink, stderr=sink)
        base = f"http://127.0.0.1:{port}"
        try:
            def up() -> bool:
                assert server.poll() is None, (tmp_path / "dashboard.log").read_text()
                try:
                    return status_without_login(f"{base}/cockpit")[0] in (302, 401, 403)
                except OSError:
                    return False

            wait_for(up, timeout=120)
            status, location = status_without_login(f"{base}/cockpit")
            assert status == 302 and "login" in location  # nothing without a login
            with browser_page() as page:
                page.goto(f"{base}/cockpit")
                page.get_by_text(f"Signed in as {USER}").wait_for()
                page.get_by_role("heading", name="Cluster").wait_for()
            authorize = next(s for s in seen if s["path"] == "/authorize")
            assert authorize["client_id"] == "wb-app"
            assert authorize["redirect_uri"].startswith(base)
            assert any(s["path"] == "/token" and s.get("client_id") == "wb-app" for s in seen)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
