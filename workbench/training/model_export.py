"""A returned module becomes an MLflow model in `pt2` (torch.export) format, never a pickle.

pt2 is a traced graph: it needs an input example. It comes from, in order, `ctx.input_example`,
the first input the module was called with during training (recorded by `FirstInputs`), or the
numeric columns of `ctx.data` without the target. When none works, the model is not logged and
`ModelNotExportable` says why in one line, with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import WorkbenchError

EXAMPLE_ROWS = 5


class ModelNotExportable(WorkbenchError):
    """The returned module cannot be exported as pt2; the message names the fix."""


@dataclass
class ModelBundle:
    """A trained module ready to log: on CPU, with the example that traces it."""

    model: Any
    example: Any  # np.ndarray
    metadata: dict[str, Any] | None


class FirstInputs:
    """Records the first positional input of each module called while training runs.

    A global forward pre-hook sees every module call; once a module is called a second time
    (the second batch), every module of the first forward pass is recorded and the hook removes
    itself, so training runs hook-free after the first step.
    """

    def __init__(self) -> None:
        self.inputs: dict[int, Any] = {}
        self._handle: Any = None

    def __enter__(self) -> FirstInputs:
        from torch.nn.modules.module import register_module_forward_pre_hook

        self._handle = register_module_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _hook(self, module: Any, args: tuple[Any, ...]) -> None:
        key = id(module)
        if key in self.inputs:
            self._stop()  # safe inside a hook: torch iterates over a copy of the hooks
            return
        self.inputs[key] = _head(args)

    def _stop(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def _head(args: tuple[Any, ...]) -> Any:
    """The first rows of a single tensor argument, copied to CPU; a description otherwise."""
    import torch

    if len(args) == 1 and isinstance(args[0], torch.Tensor) and args[0].dim() >= 1:
        return args[0][:EXAMPLE_ROWS].detach().to("cpu", copy=True)
    kinds = ", ".join(type(a).__name__ for a in args) or "keyword arguments only"
    return f"({kinds})"


def unwrap(model: Any) -> Any:
    """The module itself when the train function returned its DDP wrapper."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def prepare(model: Any, *, explicit: Any, recorded: FirstInputs | None, data: Any,
            target: str | None) -> ModelBundle:
    """The module on CPU with a working input example, or ModelNotExportable."""
    import numpy as np
    import pandas as pd
    import torch

    name = type(model).__name__
    seen = recorded.inputs.get(id(model)) if recorded is not None else None
    model = model.to("cpu").eval()
    candidates: list[tuple[str, Any]] = []
    if explicit is not None:
        candidates.append(("ctx.input_example", explicit))
    elif isinstance(seen, torch.Tensor):
        candidates.append(("the first batch it saw", seen))
    elif isinstance(data, pd.DataFrame):
        numeric = [c for c in data.columns if c != target
                   and pd.api.types.is_numeric_dtype(data[c])
                   and not pd.api.types.is_bool_dtype(data[c])]
        if numeric:
            candidates.append(("the numeric columns of ctx.data", data[numeric].head(EXAMPLE_ROWS)))
    if not candidates:
        called = f" it was called with {seen}" if isinstance(seen, str) else ""
        raise ModelNotExportable(
            f"model {name} not logged: no input example to export it as pt2 (a traced graph that "
            f"loads without unpickling code){called}; set ctx.input_example to a few input rows "
            "(one tensor, array or numeric DataFrame)")
    source, example = candidates[0]
    metadata = None
    if isinstance(example, pd.DataFrame):
        metadata = {"feature_names": [str(c) for c in example.columns]}
        example = example.to_numpy(np.float32)
    elif isinstance(example, torch.Tensor):
        example = example.detach().cpu().numpy()
    example = np.asarray(example)
    if example.dtype == np.float64 and source != "the first batch it saw":
        example = example.astype(np.float32)  # pandas/numpy default; models train in float32
    try:
        with torch.no_grad():
            model(torch.from_numpy(example))
    except Exception as exc:
        raise ModelNotExportable(
            f"model {name} not logged: it rejects {source} as input ({type(exc).__name__}: "
            f"{_first_line(exc)}); set ctx.input_example to rows it accepts") from None
    return ModelBundle(model, example, metadata)


def log_model(bundle: ModelBundle, *, register: str | None, validate: bool = True) -> str:
    """Log the bundle as the active run's MLflow PyTorch model in pt2 format; its URI."""
    import mlflow
    import numpy as np
    import pandas as pd
    import torch
    from mlflow.models import infer_signature

    requirements = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                    f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]
    with torch.no_grad():
        output = bundle.model(torch.from_numpy(bundle.example)).numpy()
    try:
        info = mlflow.pytorch.log_model(
            bundle.model, name="model", input_example=bundle.example,
            signature=infer_signature(bundle.example, output), pip_requirements=requirements,
            metadata=bundle.metadata, registered_model_name=register,
            serialization_format="pt2", validate_serving_input=validate)
    except Exception as exc:
        if "export" not in type(exc).__module__ and "torch" not in type(exc).__module__:
            raise
        raise ModelNotExportable(
            f"model {type(bundle.model).__name__} not logged: torch.export cannot trace it "
            f"({type(exc).__name__}: {_first_line(exc)}); make forward traceable (no Python "
            "branches on tensor values) or return a module that is") from None
    return str(info.model_uri)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
