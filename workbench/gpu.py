"""Which CUDA GPUs this machine has, without importing torch or CUDA libraries."""

from __future__ import annotations

import os
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """Names of the CUDA GPUs the current process may use (empty without a driver)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    gpus = [line.split(",", 1) for line in out.stdout.strip().splitlines() if "," in line]
    if visible is not None:
        allowed = {v.strip() for v in visible.split(",")}
        gpus = [g for g in gpus if g[0].strip() in allowed]
    return [name.strip() for _, name in gpus]
