"""Governance alerts against real receivers on 127.0.0.1 (an HTTP server, an SMTP server): signed
webhooks, retries with one delivery id, final failures, a dead receiver that never slows the
caller, target filters, escaping of user values, and a configuration that holds no secret."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import ConfigError
from workbench.governance import alerts
from workbench.governance.alerts import Dispatcher, Target, load_targets, render

PROMOTED = {"action": "promoted", "model": "credit", "version": "3", "previous": "2",
            "approver": "bob", "requester": "alice", "authenticated": "bob",
            "reason": "better AUC", "at": "2026-12-07T19:00:00+00:00", "seq": 7}
REQUESTED = {"action": "requested", "model": "credit", "run_id": "abc", "requester": "alice",
             "reason": "weekly retrain", "at": "2026-12-07T18:00:00+00:00", "seq": 7,
             "request_id": "credit/7"}


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """An HTTP receiver that answers the statuses in `script` in turn, then 200."""

    url: str
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would take requests meant for 127.0.0.1."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status, headers = box.script.pop(0) if box.script else (200, {})
                box.hits.append(Hit(self.path, dict(self.headers), body, status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield box
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dispatcher(*targets: Target, attempts: int = 5) -> Dispatcher:
    return Dispatcher(targets, attempts=attempts, backoff_s=0.01, timeout_s=2.0)


def test_a_webhook_arrives_signed_over_its_exact_body(receiver: Receiver) -> None:
    sent = _dispatcher(Target("webhook", f"{receiver.url}/hook", secret="k3y"))
    sent.notify(PROMOTED)
    assert sent.flush(5)
    [hit] = receiver.hits
    expected = hmac.new(b"k3y", hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["X-Workbench-Signature"] == f"sha256={expected}"
    assert hit.headers["X-Workbench-Event"] == "promoted"
    assert uuid.UUID(hit.headers["X-Workbench-Delivery"])
    body = json.loads(hit.body)
    assert (body["event"], body["model"], body["entry"]) == ("promoted", "credit", PROMOTED)
    assert body["sent_at"] and sent.failures() == []


def test_a_receiver_failing_twice_gets_three_attempts_with_one_delivery_id(
        receiver: Receiver) -> None:
    receiver.script = [(500, {}), (503, {})]
    sent = _dispatcher(Target("webhook", receiver.url, secret="k3y"))
    sent.notify(PROMOTED)
    assert sent.flush(5)
    assert [h.status for h in receiver.hits] == [500, 503, 200]
    assert len({h.headers["X-Workbench-Delivery"] for h in receiver.hits}) == 1
    assert len({h.body for h in receiver.hits}) == 1  # the signed body is sent again unchanged
    assert sent.failures() == []


def test_429_honours_retry_after(receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "0.3"})]
    sent = _dispatcher(Target("webhook", receiver.url))
    started = time.monotonic()
    sent.notify(PROMOTED)
    assert sent.flush(5)
    assert [h.status for h in receiver.hits] == [429, 200]
    assert time.monotonic() - started >= 0.3  # not the 0.01 s backoff
    assert "X-Workbench-Signature" not in receiver.hits[0].headers  # no secret: unsigned


def test_a_400_is_final_and_logged_without_the_url_token(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script = [(400, {})]
    url = f"{receiver.url}/services/T000/B000/XXXXSECRET?token=abc"
    sent = _dispatcher(Target("slack", url))
    with caplog.at_level(logging.WARNING, logger="workbench.alerts"):
        sent.notify(PROMOTED)
        assert sent.flush(5)
    assert len(receiver.hits) == 1
    [failure] = sent.failures()
    assert failure["url"] == f"{receiver.url}/..."
    assert (failure["kind"], failure["action"], failure["model"]) == ("slack", "promoted",
                                                                      "credit")
    assert failure["error"].startswith("HTTP 400") and failure["attempts"] == 1
    [record] = [r for r in caplog.records if r.name == "workbench.alerts"]
    assert "XXXXSECRET" not in record.getMessage() and "token" not in record.getMessage()
    assert "\n" not in record.getMessage()


def test_a_dead_receiver_never_slows_the_caller(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hook"
    journal = tmp_path / "failed.jsonl"
    sent = Dispatcher([Target("webhook", url)], attempts=3, backoff_s=0.01, timeout_s=1.0,
                      journal=journal)
    started = time.perf_counter()
    sent.notify(PROMOTED)
    assert time.perf_counter() - started < 0.05
    assert sent.flush(5)
    [failure] = sent.failures()
    assert failure["url"] == url.removesuffix("/hook") + "/..."
    assert failure["attempts"] == 3 and failure["error"]
    [line] = journal.read_text().splitlines()
    assert json.loads(line)["entry"] == PROMOTED  # kept to send again


def test_filters_choose_targets_by_model_and_action(receiver: Receiver) -> None:
    sent = _dispatcher(
        Target("webhook", f"{receiver.url}/credit-all", models=("credit*",)),
        Target("webhook", f"{receiver.url}/moves", events=("promoted", "rollback")),
        Target("webhook", f"{receiver.url}/fraud-requests", models=("fraud",),
               events=("requested",)))
    sent.notify(PROMOTED)
    sent.notify(REQUESTED)
    sent.notify({**REQUESTED, "model": "fraud", "request_id": "fraud/2"})
    sent.notify({**PROMOTED, "model": "churn"})
    assert sent.flush(5)
    got = sorted((h.path, json.loads(h.body)["model"], json.loads(h.body)["event"])
                 for h in receiver.hits)
    assert got == [("/credit-all", "credit", "promoted"), ("/credit-all", "credit", "requested"),
                   ("/fraud-requests", "fraud", "requested"), ("/moves", "churn", "promoted"),
                   ("/moves", "credit", "promoted")]


def test_slack_escapes_user_values(receiver: Receiver) -> None:
    sent = _dispatcher(Target("slack", f"{receiver.url}/services/T/B/X"))
    sent.notify({**PROMOTED, "reason": "<b>& <!channel>\nsecond line"})
    assert sent.flush(5)
    body = json.loads(receiver.hits[0].body)
    assert body["text"] == ("credit: v3 is champion (was v2), approved by bob (asked by alice): "
                            "&lt;b&gt;&amp; &lt;!channel&gt; second line")
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "text": body["text"]}
    assert "<" not in json.dumps(body["blocks"])


def test_human_lines() -> None:
    assert alerts.describe(REQUESTED) == ("credit/7 waits for approval: alice asks to promote "
                                          "run abc (weekly retrain)")
    assert alerts.describe({**PROMOTED, "requester": None}) == (
        "credit: v3 is champion (was v2), approved by bob: better AUC")
    assert alerts.describe({"action": "rollback", "model": "credit", "version": "2",
                            "previous": "3", "approver": "bob", "reason": "bad"}) == (
        "credit: rolled back to v2 (was v3) by bob: bad")
    body, headers = render({**PROMOTED, "reason": "<i>x</i> [a](http://evil)"}, "teams")
    card = json.loads(body)
    assert card["@type"] == "MessageCard" and "<i>" not in card["text"]
    assert "[a]" not in card["text"] and headers["Content-Type"] == "application/json"


def test_email_reaches_an_smtp_server() -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    smtpd = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtpd.start()
    try:
        sent = _dispatcher(Target("email", f"smtp://127.0.0.1:{port}", to=("ops@example.com",),
                                  sender="wb@example.com"))
        sent.notify({**PROMOTED, "reason": "ok\r\nBcc: victim@example.com"})
        assert sent.flush(5)
    finally:
        smtpd.stop()
    assert sent.failures() == []
    [envelope] = received
    assert envelope.rcpt_tos == ["ops@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    line = ("credit: v3 is champion (was v2), approved by bob (asked by alice): "
            "ok Bcc: victim@example.com")  # the newline could not forge a header
    assert message["Subject"] == line and message["Bcc"] is None
    text = message.get_body().get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text.startswith(line + "\n\n")
    assert json.loads(text[len(line) + 2:])["reason"] == "ok\r\nBcc: victim@example.com"


def test_a_failing_receiver_is_a_failure_not_an_exception(receiver: Receiver) -> None:
    receiver.script = [(500, {})] * 2
    sent = _dispatcher(Target("teams", receiver.url), attempts=2)
    sent.notify({"action": "unlocked", "model": object()})  # any value: made text
    assert sent.flush(5)
    [failure] = sent.failures()
    assert failure["attempts"] == 2 and failure["error"].startswith("HTTP 500")


# -- configuration -----------------------------------------------------------------------------


def _config(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump({"alerts": list(entries)}))
    return path


def test_load_targets_reads_secret_env_and_the_environment_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_KEY", "from-env")
    path = _config(tmp_path, {"kind": "webhook", "url": "https://hooks.example.com/x",
                              "models": ["credit*"], "events": ["promoted"],
                              "secret_env": "HOOK_KEY"},
                   {"kind": "email", "url": "smtp://mail:2525", "to": ["ops@example.com"]})
    monkeypatch.setenv("WORKBENCH_ALERTS", str(path))
    hook, mail = load_targets()
    assert (hook.kind, hook.secret, hook.models, hook.events) == (
        "webhook", "from-env", ("credit*",), ("promoted",))
    assert (mail.kind, mail.to, mail.secret) == ("email", ("ops@example.com",), "")
    assert "from-env" not in repr(hook)
    monkeypatch.setenv("WORKBENCH_ALERTS", "")
    assert load_targets() == []


def test_load_targets_refuses_a_literal_secret(tmp_path: Path) -> None:
    path = _config(tmp_path, {"kind": "webhook", "url": "https://h.example.com/x",
                              "secret": "plain"})
    with pytest.raises(ConfigError, match="secret_env") as caught:
        load_targets(path)
    assert "\n" not in str(caught.value) and "plain" not in str(caught.value)


def test_load_targets_wants_a_private_secret_file(tmp_path: Path) -> None:
    key = tmp_path / "hook.key"
    key.write_text("from-file\n")
    path = tmp_path / "alerts.json"  # JSON works as well as YAML
    path.write_text(json.dumps({"alerts": [
        {"kind": "webhook", "url": "https://h.example.com/x", "secret_file": "hook.key"}]}))
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match=r"0644.*chmod 600"):
        load_targets(path)
    os.chmod(key, 0o600)
    [target] = load_targets(path)  # relative to the alerts file
    assert target.secret == "from-file"


@pytest.mark.parametrize(("entry", "says"), [
    ({"kind": "pager", "url": "https://x.example.com"}, "kind 'pager' is not one of"),
    ({"kind": "slack"}, "missing url"),
    ({"kind": "slack", "url": "file:///etc/passwd"}, "not a http or https URL"),
    ({"kind": "slack", "url_env": "NOT_SET_ANYWHERE_42"}, "url_env NOT_SET_ANYWHERE_42"),
    ({"kind": "email", "url": "smtp://mail:25"}, "needs recipients"),
    ({"kind": "webhook", "url": "https://x.example.com", "events": ["promote"]},
     "matches no action"),
    ({"kind": "webhook", "url": "https://x.example.com", "model": ["credit"]},
     "unknown keys model"),
    ({"kind": "webhook", "url": "https://x.example.com", "secret_env": "NOT_SET_ANYWHERE_42"},
     "secret_env NOT_SET_ANYWHERE_42 is not set"),
])
def test_load_targets_names_the_problem(tmp_path: Path, entry: dict[str, Any],
                                        says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        load_targets(_config(tmp_path, entry))
    assert "\n" not in str(caught.value)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the alerts file") as caught:
        load_targets(tmp_path / "missing.yaml")
    assert "\n" not in str(caught.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("alerts: [\n  - kind: {\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_targets(broken)
    assert "\n" not in str(caught.value)


def test_module_notify_swallows_a_bad_configuration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(alerts.delivery, "_SHARED", None)
    monkeypatch.setenv("WORKBENCH_ALERTS", str(tmp_path / "missing.yaml"))
    with caplog.at_level(logging.WARNING, logger="workbench.alerts"):
        alerts.notify(PROMOTED)  # no exception
    assert "cannot read the alerts file" in caplog.text
    monkeypatch.delenv("WORKBENCH_ALERTS")
    assert alerts.dispatcher().targets == ()
    alerts.notify(PROMOTED)
    assert alerts.dispatcher().flush(0.1)


def test_a_process_that_exits_at_once_still_delivers(receiver: Receiver, tmp_path: Path) -> None:
    """A CLI command ends right after its action: the exit waits (briefly) for its alerts."""
    import subprocess
    import sys

    path = _config(tmp_path, {"kind": "webhook", "url": f"{receiver.url}/exit"})
    script = ("from workbench.governance import alerts; "
              f"alerts.notify({PROMOTED!r})")
    env = {**os.environ, "WORKBENCH_ALERTS": str(path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert [h.path for h in receiver.hits] == ["/exit"]


def test_governance_events_reach_the_teams_channel(receiver: Receiver, tmp_path: Path,
                                                   wb_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the record changes, the team hears of it: a four-eyes request waiting, its
    approval moving the champion, a rollback, each a signed webhook, without slowing them."""
    import json as json_

    import workbench as wb
    from tests.promotion.runs import model_run
    from workbench.governance import alerts

    monkeypatch.setenv("HOOK_KEY", "s3cret")
    monkeypatch.setenv("WORKBENCH_ALERTS", str(_config(
        tmp_path, {"kind": "webhook", "url": receiver.url + "/hook", "models": ["credit"],
                   "secret_env": "HOOK_KEY"})))
    wb.promote("credit", run_id=model_run(0.7), approver="ana", reason="v1")
    request = wb.promote("credit", run_id=model_run(0.9), approver="ana", reason="v2 <b>",
                         four_eyes=True)
    wb.approve(request.request_id, approver="bo", reason="checked")  # type: ignore[union-attr]
    wb.rollback("credit", approver="bo", reason="v2 mis-scores")
    wb.promote("other", run_id=model_run(0.7), approver="ana", reason="not watched")
    assert alerts.dispatcher().flush(30)
    events = [json_.loads(hit.body) for hit in receiver.hits]
    assert [e["event"] for e in events] == ["promoted", "requested", "promoted", "rollback"]
    assert events[1]["entry"]["request_id"] == request.request_id  # type: ignore[union-attr]
    assert events[1]["entry"]["reason"] == "v2 <b>"  # the JSON carries it as data
    for hit in receiver.hits:
        signature = hmac.new(b"s3cret", hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["X-Workbench-Signature"] == f"sha256={signature}"
