"""Which device and dtype a model runs in, decided without importing torch where possible.

The device kind and dtype are part of a model's fingerprint (numbers differ
slightly between them), and the fingerprint must be known before any weights
load. On a machine with no visible accelerator the answer is "cpu, float32" and
torch is not imported at all; only when a GPU may be present is torch asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .base import AdapterError

DTYPES = ("float32", "bfloat16", "float16")


def visible_gpus() -> list[str]:
    """NVIDIA GPU ids this process may use, without importing torch (CUDA must not start yet)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _may_have_accelerator() -> bool:
    rocm = shutil.which("rocm-smi") is not None or "HIP_VISIBLE_DEVICES" in os.environ
    return bool(visible_gpus()) or rocm or sys.platform == "darwin"


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, ``mps`` on Apple silicon, else ``cpu``."""
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AdapterError(
                f"--medmodel-device {name}: no CUDA device is available to this process; use auto or cpu"
            )
        return name
    if name != "auto":
        return name
    if not _may_have_accelerator():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def resolve_dtype(name: str, device: str) -> str:
    """``auto`` is float32 on CPU and bfloat16 (float16 where unsupported) on a GPU."""
    if name == "auto":
        if not device.startswith("cuda"):
            return "float32"
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if name not in DTYPES:
        raise AdapterError(f"--medmodel-dtype: unknown dtype '{name}'; use auto, {', '.join(DTYPES)}")
    return name


def device_kind(device: str) -> str:
    """``cuda:1`` -> ``cuda``: what the fingerprint records (GPUs of one kind give one answer)."""
    return device.split(":")[0]


def is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    return name == "OutOfMemoryError" or "out of memory" in text or "can't allocate memory" in text
