"""Benchmark: BBNN windows per second, model alone, by device, precision and batch size.

    python bench/infer.py [--seconds 5] [--batches 1,8,32] [--threads N]

CPU: fp32 and bf16 (autocast), each plain NCHW and channels_last. CUDA, when present:
fp32, fp16 and bf16. Weights are random (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model.bbnn import BBNN  # noqa: E402
from model.device import cpu_has_native_bf16  # noqa: E402


def rate(model, device, batch, dtype, channels_last, seconds) -> float:
    x = torch.randn(batch, 1, 647, 128, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        model(x)  # warm-up
        sync()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            n += batch
        sync()
        return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}")
    rows = []
    cpu = torch.device("cpu")
    model = BBNN(10).eval()
    for channels_last in (False, True):
        m = model.to(memory_format=torch.channels_last) if channels_last else model.to(memory_format=torch.contiguous_format)
        for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            for b in batches:
                rows.append(("cpu", name + (" channels_last" if channels_last else ""), b, rate(m, cpu, b, dtype, channels_last, args.seconds)))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        m = BBNN(10).eval().to(gpu)
        for name, dtype in (("fp32", None), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
            for b in batches:
                rows.append((torch.cuda.get_device_name(), name, b, rate(m, gpu, b, dtype, False, args.seconds)))
    else:
        print("no CUDA device: GPU rows skipped")
    print(f"{'device':<24} {'precision':<20} {'batch':>5} {'windows/s':>10}")
    for device, prec, b, r in rows:
        print(f"{device:<24} {prec:<20} {b:>5} {r:>10.1f}")


if __name__ == "__main__":
    main()
