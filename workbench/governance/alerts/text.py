"""Values from users made safe for one line: cut, control characters replaced (a reason
must not add a line to a log or a header to an e-mail)."""

from __future__ import annotations

from typing import Any

_TEXT_MAX = 300  # one value in a human line: a long reason must not flood a channel


def plain(value: Any, limit: int = _TEXT_MAX) -> str:
    """A user's value as plain text on one line: control and format characters (newlines,
    bidi overrides) become spaces, so a value cannot forge a second line or reorder one."""
    import unicodedata

    raw = "" if value is None else str(value)[: limit * 4]
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in raw)
    line = " ".join(flat.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    text = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return plain(text, limit)
