"""Who the dashboard says is signed in, and who its decisions are taken as: the login a
tracking server with basic auth verified (no list of its own then), or its users file; never
a password or secret on a command line; never "guest" because a request carried an unsigned
`is_guest` cookie."""

from __future__ import annotations

import http.cookiejar
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import panel as pn
import psutil
import pytest
from bokeh.document import Document
from mlflow import MlflowClient
from panel.io.state import set_curdoc
from tornado.web import create_signed_value

import workbench as wb
from tests.apps.test_promotion_actions import _banner, launch_dashboard, logged_in
from tests.apps.test_promotion_dashboard import MARKUP
from tests.browser import browser_page
from tests.cli.test_cli import workbench
from tests.cli.test_lab import service_env
from tests.promotion.test_promote import trained
from tests.stores import mlflow_server
from workbench.dashboard import read_users_file
from workbench.errors import ConfigError
from workbench_apps import session
from workbench_apps.identity import LOGIN_COOKIE, PASSWORDS, SignedIn

SECRET = "a-cookie-secret-for-this-test-only"
RESTARTED = "sign in again: the dashboard restarted and holds no login for alice"


# --- what a served session reads ------------------------------------------------------------

class _SessionContext:  # what Panel reads of a served session: its request's cookies
    def __init__(self, cookies: Mapping[str, str]) -> None:
        self.request = SimpleNamespace(cookies=dict(cookies), arguments={}, headers={})


@contextmanager
def served_session(cookies: Mapping[str, str]) -> Iterator[None]:
    """A document as Panel serves one: its session's request carried `cookies`."""
    context = _SessionContext(cookies)
    doc = Document()
    doc._session_context = weakref.ref(context)  # type: ignore[assignment]
    with pn.config.set(cookie_secret=SECRET), set_curdoc(doc):
        yield


def signed(name: str, value: str) -> str:
    return create_signed_value(SECRET, name, value).decode()


def test_a_stray_is_guest_cookie_does_not_replace_the_signed_login() -> None:
    with served_session({"user": signed("user", "alice"), "is_guest": "1"}):
        assert pn.state.user == "guest"  # Panel's reading (panel/io/state.py, `_state.user`)
        assert session.signed_user() == "alice"
        line = session.signed_in_line().object
        assert "Signed in as <strong>alice</strong>" in line and "guest" not in line
    with served_session({"user": "alice", "is_guest": "1"}):  # a cookie we did not sign
        assert session.signed_user() is None


def test_a_session_acts_with_the_password_held_for_its_login(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PASSWORDS, "checked", True)  # this server checks passwords
    token = PASSWORDS.keep("alice", "alice-password-1")
    try:
        with served_session({"user": signed("user", "alice"),
                             LOGIN_COOKIE: signed(LOGIN_COOKIE, token)}):
            who = session.signed_in()
        assert (who.user, who.password, who.refusal()) == ("alice", "alice-password-1", None)
        assert "alice-password-1" not in repr(who)
        with served_session({"user": signed("user", "bob"),  # alice's token, bob's login
                             LOGIN_COOKIE: signed(LOGIN_COOKIE, token)}):
            assert session.signed_in().refusal() == \
                "sign in again: the dashboard restarted and holds no login for bob"
    finally:
        PASSWORDS.forget(token)
    with served_session({"user": signed("user", "alice"),
                         LOGIN_COOKIE: signed(LOGIN_COOKIE, token)}):  # forgotten: a restart
        assert session.signed_in() == SignedIn("alice", None, forgotten=True)
        assert session.signed_in().refusal() == RESTARTED
    monkeypatch.setattr(PASSWORDS, "checked", False)  # OAuth: logins without a password
    with served_session({"user": signed("user", "alice")}):
        assert session.signed_in() == SignedIn("alice")


# --- no password on a command line ----------------------------------------------------------

def users_file(folder: Path, text: str, mode: int = 0o600) -> Path:
    path = folder / "users.txt"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_users_file_is_json_or_lines_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    lines = users_file(tmp_path, "# the team\nalice:pw:with:colons\n\nbob: spaced \n")
    assert read_users_file(lines) == {"alice": "pw:with:colons", "bob": " spaced"}
    (tmp_path / "users.json").write_text('{"alice": "pw1"}')
    (tmp_path / "users.json").chmod(0o400)
    assert read_users_file(tmp_path / "users.json") == {"alice": "pw1"}
    lines.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        read_users_file(lines)
    assert str(refused.value) == \
        f"{lines} holds passwords and others may read it (mode 0644): chmod 600 {lines}"


def test_passwords_and_secrets_on_the_command_line_are_refused(tmp_path: Path) -> None:
    def refused(*args: str, env: dict[str, str] | None = None) -> str:
        done = workbench("dashboard", *args, home=tmp_path / "wb", cwd=tmp_path, timeout=120,
                         env=env)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        return done.stderr

    said = refused("--basic-auth", "alice:s3cret-pw")
    assert "--users-file" in said and "WORKBENCH_DASHBOARD_USERS" in said
    assert "s3cret-pw" not in said
    assert "WORKBENCH_COOKIE_SECRET" in refused("--cookie-secret", "abc")
    readable = users_file(tmp_path, "alice:pw1\n", mode=0o644)
    assert refused("--users-file", str(readable)) == \
        f"error: {readable} holds passwords and others may read it (mode 0644): " \
        f"chmod 600 {readable}\n"
    readable.chmod(0o600)
    assert "not both" in refused("--users-file", str(readable),
                                 env={"WORKBENCH_DASHBOARD_USERS": "bob:pw2"})


# --- against real servers --------------------------------------------------------------------

@contextmanager
def basic_auth_server(root: Path, app: str = "basic-auth") -> Iterator[tuple[str, str]]:
    """`mlflow server --app-name APP` (MLflow's basic auth, or workbench's app that adds
    governance to it) on 127.0.0.1 over SQLite in `root`; yields its URI and its admin's
    password (the admin is `workbench.services.mlflow_server.ADMIN`)."""
    from workbench.services.mlflow_server import auth_config

    root.mkdir(parents=True, exist_ok=True)
    admin_password = "admin-password-of-this-test"
    ini = auth_config(root / "basic_auth.ini", f"sqlite:///{root / 'auth.db'}", admin_password)
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(ini),
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret-of-this-test",
           "WORKBENCH_HISTORY_KEY": "history-key-of-this-test"}
    with mlflow_server(root, app=app, env=env, workers=1) as uri:
        yield uri, admin_password


def start(env: dict[str, str], tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """`workbench dashboard` with `env` (and `args`); waits until it answers."""
    return launch_dashboard(env, tmp_path, *args)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)


def post_login(base: str, user: str, password: str) -> tuple[str, list[str]]:
    """POST the login form over HTTP: (where it ends up, the cookies it set)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    with opener.open(f"{base}/login", data=form, timeout=30) as response:
        return response.url, sorted(c.name for c in jar)


def command_lines(server: subprocess.Popen[bytes]) -> str:
    parent = psutil.Process(server.pid)
    return "\n".join(" ".join(p.cmdline()) for p in [parent, *parent.children(recursive=True)])


PEOPLE = {"alice": "alice-password-1", "bob": "bob-password-22",
          f"eve{MARKUP}": "eve-password-333", "reader": "reader-password-4444"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_people_sign_in_with_their_tracking_server_login(wb_home: Path, tmp_path: Path) -> None:
    from workbench.services.mlflow_server import ADMIN, create_user

    with basic_auth_server(tmp_path / "mlflow") as (uri, admin_password):
        for user, password in PEOPLE.items():
            create_user(uri, ADMIN, admin_password, user, password)
        # the dashboard's pages read with a login of their own; decisions use each person's
        env = {**service_env(), "WORKBENCH_HOME": str(wb_home), "MLFLOW_TRACKING_URI": uri,
               "MLFLOW_TRACKING_USERNAME": "reader",
               "MLFLOW_TRACKING_PASSWORD": PEOPLE["reader"], "WORKBENCH_COOKIE_SECRET": SECRET}
        listed = users_file(tmp_path, "mallory:pw1\n")
        done = workbench("dashboard", "--users-file", str(listed), home=wb_home, cwd=tmp_path,
                         env=env, timeout=120)
        assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
        assert "checks logins itself" in done.stderr  # no second list of people
        server, base = start(env, tmp_path)
        try:
            where, cookies = post_login(base, "alice", "not-her-password")
            assert "/login?error=" in where and "user" not in cookies
            where, cookies = post_login(base, "mallory", "pw1")  # not one of the server's
            assert "/login?error=" in where and "user" not in cookies
            where, cookies = post_login(base, "alice", PEOPLE["alice"])
            assert "/login" not in where and {"user", LOGIN_COOKIE} <= set(cookies)
            with browser_page() as first:
                alice = logged_in(first.context.browser, base, "alice", PEOPLE["alice"])
                alice.goto(f"{base}/promotion")
                alice.get_by_text("Signed in as alice", exact=True).wait_for(timeout=90_000)
                eve = logged_in(first.context.browser, base, f"eve{MARKUP}", PEOPLE[f"eve{MARKUP}"])
                eve.goto(f"{base}/promotion")
                eve.get_by_text(f"Signed in as eve{MARKUP}", exact=True).wait_for(timeout=90_000)
                assert eve.evaluate("window.__pwned") is None  # the name is text, not markup
            argv = command_lines(server)
            assert "workbench_apps.serve" in argv  # the panel server is among them
            for secret in [*PEOPLE.values(), admin_password, SECRET]:
                assert secret not in argv, argv
        finally:
            stop(server)


def status_with_cookie(url: str, cookie: str) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), str(exc.headers.get("Location", ""))


@pytest.mark.timeout(600)
def test_is_guest_neither_signs_in_nor_replaces_alice_and_a_restart_forgets_her_login(
        tracking: MlflowClient, wb_home: Path, tmp_path: Path) -> None:
    wb.promote("credit", run_id=trained(0.7), approver="ana", reason="v1")
    wb.promote("credit", run_id=trained(0.9), approver="ana", reason="v2", four_eyes=True)
    wb.promote("credit", run_id=trained(0.8), approver="ana", reason="v3", four_eyes=True)
    listed = users_file(tmp_path, '{"alice": "alice-password-1"}')
    env = {**service_env(), "WORKBENCH_HOME": str(wb_home), "WORKBENCH_COOKIE_SECRET": SECRET}
    server, base = start(env, tmp_path, "--users-file", str(listed))
    try:
        status, where = status_with_cookie(f"{base}/promotion", "is_guest=1")
        assert status == 302 and "/login" in where  # a guest cookie alone is no login
        with browser_page() as first:
            alice: Any = logged_in(first.context.browser, base, "alice", "alice-password-1")
            alice.context.add_cookies([{"name": "is_guest", "value": "1", "url": base}])
            alice.goto(f"{base}/promotion")
            alice.get_by_text("credit/2", exact=True).first.wait_for()
            alice.get_by_text("Signed in as alice", exact=True).wait_for()
            assert alice.get_by_text("Signed in as guest").count() == 0
            alice.locator("textarea:visible").first.fill("checked the gates")
            alice.get_by_role("button", name="Approve").first.click()
            _banner(alice, "approved credit/2: credit v2 is the champion")
            decided = [e for e in wb.history("credit") if e.get("request") == "credit/2"]
            assert [e["approver"] for e in decided] == ["alice"]

            stop(server)  # the same cookie secret: alice's cookie still signs her in
            server, base = start(env, tmp_path, "--users-file", str(listed))
            alice.goto(f"{base}/promotion")
            alice.get_by_text("credit/3", exact=True).first.wait_for()
            alice.get_by_text("Signed in as alice", exact=True).wait_for()
            alice.locator("textarea:visible").first.fill("not needed")
            alice.get_by_role("button", name="Decline").first.click()
            _banner(alice, RESTARTED)
        assert [e["seq"] for e in wb.pending("credit")] == [3]  # nothing was decided
    finally:
        stop(server)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_decision_reaches_a_governing_server_as_the_signed_in_person(
        wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.promotion.runs import model_run
    from workbench.services.mlflow_server import ADMIN, create_user

    with basic_auth_server(tmp_path / "mlflow", app="workbench") as (uri, admin_password):
        for user, password in PEOPLE.items():
            create_user(uri, ADMIN, admin_password, user, password)
        create_user(uri, ADMIN, admin_password, "ana", "ana-password-55555")
        for name, value in {"MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_USERNAME": "ana",
                            "MLFLOW_TRACKING_PASSWORD": "ana-password-55555"}.items():
            monkeypatch.setenv(name, value)
        wb.promote("credit", run_id=model_run(0.8), reason="v1", four_eyes=True)  # as ana
        env = {**service_env(), "WORKBENCH_HOME": str(wb_home), "MLFLOW_TRACKING_URI": uri,
               "MLFLOW_TRACKING_USERNAME": "reader",
               "MLFLOW_TRACKING_PASSWORD": PEOPLE["reader"]}
        server, base = start(env, tmp_path)
        try:
            with browser_page() as first:
                alice: Any = logged_in(first.context.browser, base, "alice", PEOPLE["alice"])
                alice.goto(f"{base}/promotion")
                alice.get_by_text("credit/1", exact=True).first.wait_for(timeout=90_000)
                alice.locator("textarea:visible").first.fill("checked the gates")
                alice.get_by_role("button", name="Approve").first.click()
                _banner(alice, "approved credit/1: credit v1 is the champion")
        finally:
            stop(server)
        decided = wb.history("credit")[-1]
        # the server verified alice's own login, not the dashboard's (reader)
        assert (decided["request"], decided["approver"], decided["authenticated"]) == \
            ("credit/1", "alice", "alice"), decided
