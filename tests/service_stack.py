"""The services stack (`workbench services up`) for tests: started by the CLI, as a user
would, in a folder PostgreSQL's own user may enter (it cannot run as root, and pytest's temp
dirs are private to root); stopped and removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def services_home() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="wb-services-"))
    os.chmod(folder, 0o711)
    return folder / "home"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """A `workbench` process's environment; the repository is importable, so the tracking
    server (its scoring children) and the workers load the test models' classes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "WORKBENCH_"))}
    path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH")]))
    return {**env, "WORKBENCH_HOME": str(home), "PYTHONPATH": path, **extra}


def services(home: Path, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WORKBENCH, "services", *args], env=cli_env(home), text=True,
                          capture_output=True, timeout=timeout_s)


@contextmanager
def running_services(workers: int = 2, extra: Sequence[str] = ()) -> Iterator[
        tuple[Path, dict[str, str]]]:
    """(the home that holds the services, the `env` that `up --json` gave)."""
    home = services_home()
    try:
        done = services(home, "up", "--json", "--workers", str(workers), *extra)
        if done.returncode != 0:
            raise RuntimeError(f"workbench services up failed: {done.stderr}\n"
                               f"{_logs(home)}")
        yield home, json.loads(done.stdout)["env"]
    finally:
        services(home, "down")
        shutil.rmtree(home.parent, ignore_errors=True)


def _logs(home: Path) -> str:
    logs = home / "services" / "logs"
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(logs.glob("*.log"))) if logs.is_dir() else ""
