"""Where inference runs and in which precision: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import functools
import platform

import torch


def pick_device(name: str | None = None) -> torch.device:
    """`name` forces one ('cpu', 'cuda', 'cuda:1', 'mps'); otherwise the best available."""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AMX-BF16 or AVX512-BF16 on x86 Linux; the fast bf16 paths of oneDNN need one of them."""
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """None means fp32. precision: 'fp32', 'bf16', 'fp16' or 'auto' (resolved by the caller)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    raise ValueError(f"unknown precision {precision!r}")
