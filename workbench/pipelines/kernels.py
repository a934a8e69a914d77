"""Which Jupyter kernel runs a notebook step.

Notebooks written by nbformat or jupytext carry no kernelspec, and papermill refuses those
unless told a kernel: they run with this environment's Python kernel (`python3`, ipykernel of
the interpreter running the step). A notebook naming a kernel that is not installed is refused
before anything runs, naming the installed ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import ConfigError


def kernel_name(notebook: Path) -> str:
    """The installed kernel that runs `notebook`; ConfigError (one line) if it names none."""
    return kernel(notebook)[0]


def kernel(notebook: Path) -> tuple[str, str]:
    """(kernel name, its language) for `notebook`; papermill needs both when the notebook's
    metadata names neither."""
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager

    try:
        metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata") or {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{notebook} is not a readable notebook ({exc})") from None
    wanted = str((metadata.get("kernelspec") or {}).get("name") or NATIVE_KERNEL_NAME)
    installed = sorted(KernelSpecManager().find_kernel_specs())
    if wanted not in installed:
        raise ConfigError(
            f"{notebook.name} asks for Jupyter kernel {wanted!r}, which is not installed here "
            f"(installed: {', '.join(installed) or 'none'}); install it, or pick one of those "
            "in the notebook's kernel menu")
    language = str((metadata.get("kernelspec") or {}).get("language")
                   or (metadata.get("language_info") or {}).get("name")
                   or KernelSpecManager().get_kernel_spec(wanted).language)
    return wanted, language
