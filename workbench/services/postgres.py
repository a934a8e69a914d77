"""PostgreSQL for the tracking server: Debian's `postgresql` package run on loopback with its
data in the services folder, or a server the user already has (a URI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from workbench.errors import WorkbenchError

USER = "workbench"
DATABASES = ("mlflow", "mlflow_auth")  # the tracking store, and basic auth's users
INSTALL = ("apt-get install postgresql (Debian/Ubuntu; `make services-deps`), or pass "
           "--postgres-uri to use your own server")


class PostgresError(WorkbenchError):
    """PostgreSQL is missing, refused us, or failed to start."""


def binaries() -> Path:
    """The folder with `initdb` and `postgres`: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "postgres").exists():
            return folder
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if versions:
        return versions[-1].parent
    raise PostgresError(f"PostgreSQL is not installed (no initdb or postgres found): {INSTALL}")


def run_as() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as the `postgres` system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError("PostgreSQL cannot run as root and there is no `postgres` user: "
                            f"run as a normal user, or {INSTALL}") from None
    return "postgres"


def initialise(data: Path, password: str, user: str | None) -> None:
    """A new cluster in `data` whose superuser `workbench` logs in with `password`."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = data.parent / ".initdb-password"
    secret.touch(mode=0o600)
    secret.write_text(password)
    try:
        if user:
            shutil.chown(data, user, user)
            shutil.chown(secret, user, user)
            _reachable_by(user, data)
        done = subprocess.run(
            [str(binaries() / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}",
             "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True, user=user, group=user)
    finally:
        secret.unlink(missing_ok=True)
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)  # a half-made cluster would never start
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise PostgresError(f"initdb failed in {data}: {last}")


def _reachable_by(user: str, data: Path) -> None:
    done = subprocess.run(["test", "-w", str(data)], user=user, group=user)
    if done.returncode != 0:
        raise PostgresError(
            f"the `{user}` user cannot reach {data} (a parent folder is private to root), and "
            "PostgreSQL cannot run as root: set WORKBENCH_HOME to a folder others may enter, "
            "or run as a normal user")


def command(data: Path, port: int) -> list[str]:
    return [str(binaries() / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]


def local_uri(port: int, database: str = "postgres") -> str:
    """A URI without its password (processes get it as PGPASSWORD, off the command line)."""
    return f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{database}"


def with_database(uri: str, database: str) -> str:
    parts = urlsplit(uri)
    scheme = "postgresql+psycopg" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/" + database, parts.query, ""))


def check(uri: str, password: str | None = None, timeout_s: int = 3) -> str | None:
    """None when `uri` accepts us; else a one-line diagnosis with the fix."""
    import psycopg

    parts = urlsplit(uri)
    where = f"{parts.hostname}:{parts.port or 5432}"
    try:
        with psycopg.connect(_libpq(uri), password=password or unquote(parts.password or ""),
                             connect_timeout=timeout_s):
            return None
    except psycopg.OperationalError as exc:
        text = " ".join(str(exc).split())
        if "password authentication failed" in text or "no password supplied" in text:
            return (f"PostgreSQL at {where} refused the password for user "
                    f"{parts.username!r}: fix the password (in --postgres-uri, or "
                    "`workbench services down` and remove services/postgres to start afresh)")
        if re.search(r"database \".*\" does not exist", text):
            return (f"PostgreSQL at {where} has no database {parts.path.lstrip('/')!r}: "
                    "create it, or give a URI with an existing database")
        if "Connection refused" in text or "timeout" in text.lower():
            return (f"nothing answers as PostgreSQL at {where}: start it (`workbench services "
                    "up`), or fix the host and port")
        return f"PostgreSQL at {where}: {text[:200]}"


def ensure_databases(uri: str, password: str | None = None) -> None:
    """Create the tracking and auth databases on the server at `uri` if missing."""
    import psycopg

    parts = urlsplit(uri)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(_libpq(admin), password=password or unquote(parts.password or ""),
                         autocommit=True, connect_timeout=5) as conn:
        for name in DATABASES:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')


def without_password(uri: str) -> str:
    """`uri` with its password left out (it travels as PGPASSWORD or a keyword instead)."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        who, host = netloc.rsplit("@", 1)
        netloc = f"{who.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _libpq(uri: str) -> str:
    """SQLAlchemy's `postgresql+psycopg://` as libpq's `postgresql://`, without a password."""
    return "postgresql://" + without_password(uri).split("://", 1)[1]
