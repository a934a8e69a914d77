"""The git state of the repository holding the user's code: commit, and whether the code that
ran differs from it. Only source counts: a notebook whose cells equal HEAD's (outputs,
execution counts and metadata aside) is clean, so Lab's autosave never makes a run dirty."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.tracking.code_hash import notebook_code

DIRTY_LISTED = 10  # the dirty files named on a run; the count says how many more


@dataclass(frozen=True)
class GitState:
    commit: str | None = None
    dirty: bool | None = None
    dirty_files: tuple[str, ...] = ()  # repository-relative, the first DIRTY_LISTED
    dirty_count: int = 0
    root: str | None = None

    def dirty_summary(self) -> str:
        """'a.py, b.ipynb (+3 more)': short enough for a tag."""
        more = self.dirty_count - len(self.dirty_files)
        return ", ".join(self.dirty_files) + (f" (+{more} more)" if more > 0 else "")


def read_git_state(start: str | os.PathLike[str], source: str | None = None) -> GitState:
    """The state of the repository holding `start` (a file or a folder); an empty GitState when
    there is none or git is missing. `source`, the file whose code ran, counts as dirty when the
    repository does not track it (its code is in no commit)."""
    where = Path(start)
    if where.is_file():
        where = where.parent
    try:
        found = _git(["rev-parse", "--show-toplevel", "HEAD"], where)
        if found.returncode != 0:
            return GitState()
        top, commit = found.stdout.decode().splitlines()[:2]
        status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=no"], Path(top))
        if status.returncode != 0:
            return GitState(commit=commit, root=top)
        dirty = [path for code, path in _changed(status.stdout)
                 if not _only_outputs_changed(Path(top), path, code)]
        untracked = _untracked(Path(top), source)
        if untracked:
            dirty.insert(0, untracked)
    except (OSError, subprocess.SubprocessError, ValueError):
        return GitState()
    return GitState(commit=commit, dirty=bool(dirty), dirty_files=tuple(dirty[:DIRTY_LISTED]),
                    dirty_count=len(dirty), root=top)


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    # --no-optional-locks: reading the state never takes the index lock a user's git needs
    return subprocess.run(["git", "--no-optional-locks", *args], cwd=cwd, capture_output=True,
                          timeout=10)


def _changed(porcelain: bytes) -> list[tuple[str, str]]:
    """(status code, path) for each entry of `git status --porcelain=v1 -z`."""
    entries = porcelain.decode(errors="surrogateescape").split("\0")
    changed = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            index += 1  # a rename or copy is followed by its original path
        changed.append((code, path))
    return changed


def _only_outputs_changed(top: Path, path: str, code: str) -> bool:
    """A notebook whose cells equal HEAD's: only outputs or metadata changed."""
    if not path.endswith(".ipynb") or "D" in code:
        return False
    head = _git(["show", f"HEAD:{path}"], top)
    if head.returncode != 0:  # added since HEAD
        return False
    try:
        working = (top / path).read_bytes()
    except OSError:
        return False
    cells = notebook_code(head.stdout)
    return cells is not None and cells == notebook_code(working)


def _untracked(top: Path, source: str | None) -> str | None:
    if not source:
        return None
    try:
        relative = Path(source).resolve().relative_to(top.resolve())
    except ValueError:  # outside this repository
        return None
    listed = _git(["ls-files", "--", str(relative)], top)
    return f"{relative} (untracked)" if listed.returncode == 0 and not listed.stdout else None
