"""Where inference runs and in which precision: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import functools
import platform

import torch


class DeviceError(ValueError):
    """The asked-for device does not exist or is not available here; message is for the user."""


def pick_device(name: str | None = None) -> torch.device:
    """`name` forces one ('cpu', 'cuda', 'cuda:1', 'mps'); otherwise the best available.
    DeviceError when that one is unknown or not available."""
    if name:
        return _checked(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {name!r}: cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU was found"
            raise DeviceError(f"cannot use {name}: {why}; use --device cpu (or leave --device out)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"cannot use {name}: there are {torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"cannot use {name}: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device {name!r}: cpu, cuda, cuda:N or mps")
    return device


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
