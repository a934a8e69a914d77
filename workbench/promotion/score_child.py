"""Score a model in a child process: how a governing tracking server runs a beat-the-champion
gate without unpickling anyone's model inside itself. The parent copies the model's files and
the evaluation rows to a private temp folder; the child, started with none of the server's
secrets in its environment (history key, database and auth settings), loads the model from
there, scores it and prints one JSON line. `python -m workbench.promotion.score_child JOB`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TIMEOUT_S = 600.0
SECRETS = ("WORKBENCH_HISTORY_KEY", "MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_FLASK_SERVER_SECRET_KEY",
           "PGPASSWORD", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_TRACKING_URI",
           "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME")


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in SECRETS and not k.startswith(("_MLFLOW_", "PG"))}


def score_elsewhere(uri: str, frame: pd.DataFrame, target: str, name: str) -> float:
    with tempfile.TemporaryDirectory(prefix="wb-score-") as scratch:
        os.chmod(scratch, 0o700)
        rows = Path(scratch) / "rows.parquet"
        frame.to_parquet(rows)
        answer, why = _run_child(scratch, {"model": _model_files(uri, scratch),
                                           "rows": str(rows), "target": target, "score": name,
                                           "uri": uri}, child_environment(),
                                 f"scoring the model {uri} took over {TIMEOUT_S:.0f}s; "
                                 "nothing was moved")
    if "score" in answer:
        return float(answer["score"])
    raise ConfigError(why)


def predict_elsewhere(uri: str, frames: dict[str, pd.DataFrame], root: Path | None = None
                      ) -> dict[str, np.ndarray]:
    """The model's predictions for each frame (one number or label per row; the positive
    class's probability for a model giving two per row), made in a child process: the model is
    unpickled there, never in the caller (a Jupyter server, a dashboard, a monitor). The
    project at `root` comes first on the child's path: a model's own classes live there."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="wb-predict-") as scratch:
        os.chmod(scratch, 0o700)
        rows = {}
        for name, frame in frames.items():
            rows[name] = str(Path(scratch) / f"{name}.parquet")
            frame.to_parquet(rows[name])
        env = child_environment()
        if root is not None:
            from workbench.project import python_path

            env["PYTHONPATH"] = python_path(root)
        answer, why = _run_child(scratch, {"model": _model_files(uri, scratch),
                                           "predict": rows, "uri": uri}, env,
                                 f"scoring the model {uri} took over {TIMEOUT_S:.0f}s")
        if answer.get("predicted"):
            return {name: np.load(f"{path}.npy", allow_pickle=False)
                    for name, path in rows.items()}
    raise ConfigError(why)


def _model_files(uri: str, scratch: str) -> str:
    """The model's files copied into `scratch`: files only, nothing is unpickled here."""
    import mlflow

    from workbench.promotion import registry

    with registry.quiet_downloads():
        try:
            return str(mlflow.artifacts.download_artifacts(artifact_uri=uri,
                                                           dst_path=f"{scratch}/model"))
        except Exception as exc:
            raise ConfigError(f"cannot read the model {uri} to score it "
                              f"({str(exc).splitlines()[0][:200]})") from None


def _run_child(scratch: str, job: dict[str, Any], env: dict[str, str], too_slow: str
               ) -> tuple[dict[str, Any], str]:
    """Run this module on `job` in `scratch`; (its JSON answer, why it gave none)."""
    path = Path(scratch) / "job.json"
    path.write_text(json.dumps(job))
    try:
        done = subprocess.run([sys.executable, "-m", __name__, str(path)], text=True,
                              capture_output=True, timeout=TIMEOUT_S, cwd=scratch, env=env)
    except subprocess.TimeoutExpired:
        raise ConfigError(too_slow) from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    why = answer.get("error") or (done.stderr.strip().splitlines() or ["no answer"])[-1]
    return answer, str(why)[:400]


def _predict_job(job: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd

    from workbench.promotion import registry
    from workbench.promotion.evaluation import model_input
    from workbench.promotion.scoring import one_per_row

    model = registry.load_model(job["model"])
    for path in job["predict"].values():
        features = model_input(model.metadata, pd.read_parquet(path), job["uri"])
        try:
            predicted = model.predict(features)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"the model {job['uri']} failed to predict on the monitored data "
                              f"({first[:300]}); check that the data has the model's inputs"
                              ) from None
        np.save(f"{path}.npy", one_per_row(predicted), allow_pickle=False)
    print(json.dumps({"predicted": True}))


def main(job_path: str) -> None:
    import pandas as pd

    from workbench.promotion import registry
    from workbench.promotion.evaluation import score_frame

    job = json.loads(Path(job_path).read_text())
    if "predict" in job:
        try:
            _predict_job(job)
        except ConfigError as exc:
            print(json.dumps({"error": str(exc).replace(job["model"], job["uri"])}))
        return
    try:
        model = registry.load_model(job["model"])
        value = score_frame(model, pd.read_parquet(job["rows"]), job["target"], job["score"],
                            job["uri"])
    except ConfigError as exc:
        print(json.dumps({"error": str(exc).replace(job["model"], job["uri"])}))
        return
    print(json.dumps({"score": value}))


if __name__ == "__main__":
    main(sys.argv[1])
