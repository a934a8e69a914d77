"""The `workbench` group and what its commands share: output, parameter parsing, errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from workbench.errors import ConfigError, WorkbenchError

DEMO_FN = "workbench.demo.classifier:train"
DEMO_MODEL = "workbench-demo"


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="-p")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _parse_space(pairs: tuple[str, ...]) -> dict[str, Any]:
    from workbench.training.space import parse_space

    try:
        return parse_space(pairs)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--space") from None


def _scalar(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


class _Group(click.Group):
    """Every failure is one `error:` line and exit 1 (`WORKBENCH_DEBUG=1` shows the traceback);
    usage errors stay click's, Ctrl-C stays Ctrl-C."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except WorkbenchError as exc:
            _fail(str(exc))
        except Exception as exc:
            if os.environ.get("WORKBENCH_DEBUG"):
                raise
            _fail(f"{_origin(exc)}{type(exc).__name__}: {_first_line(exc)} (WORKBENCH_DEBUG=1 "
                  "shows the traceback)")


def _fail(message: str) -> None:
    from workbench.tracking.store import display_uri

    click.echo(f"error: {display_uri(' '.join(message.split()))}", err=True)  # one line
    sys.exit(1)


def _origin(exc: Exception) -> str:
    module = type(exc).__module__.split(".")[0]
    return "MLflow: " if module == "mlflow" else ""


def _first_line(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or repr(exc)
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


@click.group(cls=_Group)
@click.version_option(package_name="workbench")
def cli() -> None:
    """Workbench: train on Dask, track in MLflow, watch drift, promote to production."""
    from workbench.project import find_project, on_import_path

    on_import_path(find_project().root)  # `train bike_model:fit` from any folder of the project


def _demo_data(rows: int, seed: int) -> Any:
    from workbench.demo import make_dataset

    return make_dataset(rows, seed=seed)


def _train_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("function", required=False),
        click.option("--demo", is_flag=True, help="train the built-in classifier on built-in data"),
        click.option("-p", "--param", "params", multiple=True, help="key=value (JSON values)"),
        click.option("--data", type=str, help="Parquet/CSV file or directory"),
        click.option("--rows", type=int, default=None, help="rows of demo data (with --demo)"),
        click.option("--epochs", type=int, default=None, help="epochs (with --demo)"),
        click.option("--experiment", default=None, help="MLflow experiment name"),
        click.option("--seed", type=int, default=None),
        click.option("--json", "as_json", is_flag=True, help="print one JSON object"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _resolve(function: str | None, demo: bool, params: tuple[str, ...], data: str | None,
             rows: int | None, epochs: int | None, seed: int | None) -> tuple[str, dict[str, Any],
                                                                               Any]:
    parsed = _parse_params(params)
    if demo:
        if function:
            raise click.UsageError("give either FUNCTION or --demo, not both")
        if epochs is not None:
            parsed["epochs"] = epochs
        frame = data or _demo_data(rows or 20_000, seed if seed is not None else 0)
        return DEMO_FN, parsed, frame
    if not function:
        raise click.UsageError("give a train function as module:function, or --demo")
    if rows is not None or epochs is not None:
        raise click.UsageError("--rows and --epochs go with --demo; use -p for your function")
    return function, parsed, data


def _write_html(path: str, render: Callable[[], str]) -> Any:
    """`--html PATH`: checked before rendering, written whole or not at all."""
    from pathlib import Path

    from workbench.files import write_atomically

    target = Path(path).expanduser().resolve()
    if not target.parent.is_dir():
        raise click.BadParameter(f"directory {target.parent} does not exist", param_hint="--html")
    return write_atomically(target, render())
