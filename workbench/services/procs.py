"""Processes the services run as: started in a session of their own (they outlive the command
that started them), recognised by their command line (a PID file can outlive its process and
the PID be reused), stopped with their whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def start(command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path,
          user: str | None = None) -> int:
    """Start `command` detached, its output appended to `log`; its PID."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=dict(env), cwd=cwd,
                                 start_new_session=True, user=user, group=user)
    return child.pid


def alive(pid: int | None, marks: Sequence[str]) -> bool:
    """Is `pid` running (not a zombie) with every one of `marks` in its command line?"""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return all(mark in line for mark in marks)


def stop(pid: int, marks: Sequence[str], sig: int = signal.SIGTERM,
         timeout_s: float = 30.0) -> None:
    """Stop `pid`'s process group (servers fork workers): `sig`, then SIGKILL after
    `timeout_s`. A PID that is no longer ours is left alone."""
    if not alive(pid, marks):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_pids(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while group_pids(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def group_pids(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (a server and the workers it forked)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                found.append(process.pid)
    return found


def port_free(port: int) -> bool:
    """Nobody listens on `port` (connections of a dead server lingering in TIME_WAIT do not
    count: the servers bind with SO_REUSEADDR, so must this test)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_owner(port: int) -> str:
    """Who listens on `port`, as far as this user may see ("pid 12 (nginx)"), else ''."""
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if (conn.laddr and conn.laddr.port == port and conn.pid
                    and conn.status == psutil.CONN_LISTEN):
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    return ""


def log_tail(log: Path, lines: int = 1) -> str:
    """The last meaningful line(s) of a service's log, for a one-line diagnosis."""
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    meaningful = [line.strip() for line in text if line.strip()]
    return " | ".join(meaningful[-lines:])[:300]
