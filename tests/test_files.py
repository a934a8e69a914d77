"""Files users read are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.files import write_atomically


def test_a_failed_check_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    target.write_text("old")

    def refuse(path: Path) -> None:
        raise ValueError(f"bad {path.name}")

    with pytest.raises(ValueError, match=r"bad spec\.yaml\.partial"):
        write_atomically(target, "new", check=refuse)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]
    write_atomically(target, "new", check=lambda p: p.read_text() == "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]
