"""Training speed on this machine: seconds per GTZAN-shaped epoch (800 train + 100 validation clips of
647 x 128, batch 8) measured on a handful of batches and extrapolated, and mel-cache build rate.

    .venv/bin/python bench/train.py [--batches 4] [--precision auto|fp32|bf16|fp16] [--device cpu] [--files 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from model.bbnn import BBNN  # noqa: E402
from model.device import autocast_dtype, pick_device  # noqa: E402
from model.train.evaluate import predict_mels  # noqa: E402
from model.train.loop import _resolve_precision  # noqa: E402


def epoch_seconds(device: torch.device, precision: str, batches: int, batch: int = 8) -> tuple[float, float]:
    torch.manual_seed(0)
    model = BBNN(10).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    dtype = autocast_dtype(device, precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    mels = [np.random.default_rng(i).normal(-30, 15, (647, 128)).astype(np.float16) for i in range(batch)]
    times = []
    for i in range(batches + 1):  # the first is warm-up
        t = time.perf_counter()
        x = torch.from_numpy(np.stack([m.astype(np.float32) for m in mels])).unsqueeze(1).to(device)
        if device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.arange(batch, device=device) % 10
        model.train()
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x).logits
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    train_batch = float(np.median(times[1:]))
    t = time.perf_counter()
    predict_mels(model, mels * 2, device, precision)
    eval_clip = (time.perf_counter() - t) / (2 * batch)
    return train_batch, eval_clip


def cache_rate(n_files: int) -> float:
    from audio_factory import make_track
    from model.mel import MelSpec
    from model.train.datasets import scan_folder
    from model.train.mel_cache import MelCache

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(n_files):
            (root / f"c{i % 2}").mkdir(exist_ok=True)
            make_track(root / f"c{i % 2}" / f"t{i}.wav", ["tones", "noise"][i % 2], seconds=30.0, seed=i)
        ds = scan_folder(root)
        t = time.perf_counter()
        MelCache(root / "cache", MelSpec()).build(ds)
        return n_files / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device")
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    device = pick_device(args.device)
    precisions = ["fp32", _resolve_precision("auto", device)] if args.precision == "auto" else [args.precision]
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"cuda {'yes' if torch.cuda.is_available() else 'no'}")
    for precision in dict.fromkeys(precisions):
        batch_s, clip_s = epoch_seconds(device, precision, args.batches)
        epoch = 100 * batch_s + 100 * clip_s
        print(f"{precision}: {batch_s:.2f} s per training batch of 8, {clip_s:.3f} s per validation clip -> "
              f"{epoch:.0f} s per GTZAN epoch (extrapolated from {args.batches} batches), "
              f"{epoch * 100 / 3600:.1f} h for 100 epochs")
    rate = cache_rate(args.files)
    print(f"mel cache: {rate:.2f} files/s for 30 s clips -> {1000 / rate / 60:.1f} min to build for GTZAN (1000 clips), once")


if __name__ == "__main__":
    main()
