"""`workbench drift` as a script runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import workbench
from tests.monitoring.data import mixed_table


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("drift-files")
    reference = mixed_table(3_000, seed=40).drop(columns="comment")
    reference.to_parquet(base / "reference.parquet")
    reference.sample(frac=0.5, random_state=2).to_csv(base / "same.csv", index=False)
    moved = mixed_table(3_000, seed=41, shift=0.45).drop(columns="comment")
    moved.to_parquet(base / "moved.parquet")
    moved.drop(columns="normal").to_parquet(base / "fewer.parquet")
    return {"reference": base / "reference.parquet", "same": base / "same.csv",
            "moved": base / "moved.parquet", "fewer": base / "fewer.parquet"}


def test_json_html_and_history(files: dict[str, Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / "report.html"
    done = workbench("drift", str(files["reference"]), str(files["same"]), "--json", "--html",
                     str(html), "--model", "churn", "--fail-on-drift", home=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["drifted"] is False and out["engine"] == "evidently"
    assert out["columns"]["normal"]["stattest"] == "wasserstein"
    assert html.stat().st_size > 100_000 and not html.with_name("report.html.partial").exists()
    assert out["logged_run_id"]

    moved = workbench("drift", str(files["reference"]), str(files["moved"]), "--model", "churn",
                      "--fail-on-drift", home=tmp_path)
    assert moved.returncode == 3, moved.stderr
    assert moved.stderr.strip().splitlines()[-1].startswith("error: drift detected")
    assert "DRIFT" in moved.stdout  # the human table still printed

    import workbench as wb

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    history = wb.drift_history("churn")
    assert list(history["drifted"]) == [False, True]


def test_mismatched_columns_is_one_line_error(files: dict[str, Path], tmp_path: Path) -> None:
    done = workbench("drift", str(files["reference"]), str(files["fewer"]), home=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: reference and current have different columns "
                           "(only in reference: normal)")


def test_missing_path_is_one_line_error(files: dict[str, Path], tmp_path: Path) -> None:
    done = workbench("drift", str(files["reference"]), str(tmp_path / "nope"), home=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "does not exist" in line
