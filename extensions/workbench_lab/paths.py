"""A path a browser sends (a notebook to run, to promote) is a path inside the Jupyter root, or
it is refused: nothing outside the root is ever read, run or written on a request's say-so."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from workbench.errors import ConfigError

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def inside_root(root: Path, given: object, *, what: str = "path") -> Path:
    """`given` (a root-relative POSIX path, as Lab's file browser names files) resolved inside
    `root`; else ConfigError saying why. Refused before any file is touched: absolute paths,
    `..`, backslashes, percent-escapes left after the URL's own decoding (a double-encoded
    `%252e%252e` arrives as `%2e%2e`), and symlinks that lead out of the root."""
    if not isinstance(given, str) or not given.strip():
        raise ConfigError(f"{what} is missing; give a path relative to the Jupyter root, "
                          "e.g. notebooks/train.ipynb")
    text = given.strip()
    if "\x00" in text or "\\" in text or "%" in text:
        raise ConfigError(f"{what} {given!r} has a backslash, NUL or percent-escape; give a "
                          "plain path relative to the Jupyter root, with / between folders")
    pure = PurePosixPath(text)
    if pure.is_absolute() or _WINDOWS_DRIVE.match(text):
        raise ConfigError(f"{what} {given!r} is absolute; give it relative to the Jupyter root")
    if ".." in pure.parts:
        raise ConfigError(f"{what} {given!r} climbs out with '..'; give a path inside the "
                          "Jupyter root")
    base = root.resolve()
    target = (base / pure).resolve()
    if not target.is_relative_to(base):
        raise ConfigError(f"{what} {given!r} leads outside the Jupyter root (a symlink?); "
                          "give a path inside it")
    return target


def relative(root: Path, path: Path) -> str:
    """`path` as Lab names it: relative to the root, with / between folders."""
    return path.resolve().relative_to(root.resolve()).as_posix()
