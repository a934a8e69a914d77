"""The identity of a source file: its bytes, except for a notebook, whose identity is its cells'
types and sources only, so saved outputs, execution counts and metadata never change it.

Pure: no I/O beyond reading the one file `code_sha256` is given.
"""

from __future__ import annotations

import hashlib
import json


def notebook_code(raw: bytes) -> bytes | None:
    """A notebook's cells (type and source, in order) as canonical JSON; None when `raw` is not
    notebook JSON (nbformat 4: a top-level `cells` list)."""
    try:
        notebook = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    code = []
    for cell in cells:
        if not isinstance(cell, dict):
            return None
        source = cell.get("source", "")
        if isinstance(source, list):  # nbformat stores a source as a list of lines or one string
            source = "".join(str(line) for line in source)
        code.append([str(cell.get("cell_type", "")), str(source)])
    return json.dumps(code, ensure_ascii=False, separators=(",", ":")).encode()


def code_bytes(raw: bytes, name: str) -> bytes:
    """What identifies the file `name` with content `raw`: a notebook's cells, else the bytes
    (a file named .ipynb that is not notebook JSON is hashed as it is)."""
    if name.endswith(".ipynb"):
        code = notebook_code(raw)
        if code is not None:
            return code
    return raw


def code_sha256(path: str) -> str | None:
    """sha256 of the file's identity (see `code_bytes`); None when it is not a readable file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    return hashlib.sha256(code_bytes(raw, path)).hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
