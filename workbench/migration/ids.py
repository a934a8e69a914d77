"""The ids a migration maps: the target gives every run and logged model a new one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")  # MLflow run ids: uuid4 hex
_MODEL_ID = re.compile(r"\bm-[0-9a-f]{32}\b")  # MLflow 3 logged model ids


@dataclass
class IdMap:
    """Source id -> target id, for runs and for logged models."""

    runs: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def rewrite(self, value: str) -> str:
        """`value` with every source run or logged-model id it names swapped for the
        target's (a parent run, a source run, a `models:/` URI in a tag)."""
        value = _MODEL_ID.sub(lambda m: self.models.get(m.group(0), m.group(0)), value)
        return _RUN_ID.sub(lambda m: self.runs.get(m.group(0), m.group(0)), value)
