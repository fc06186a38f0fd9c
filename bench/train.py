"""Training speed on this machine: seconds per GTZAN-shaped epoch (800 training + 100 validation clips
of 647 x 128, batch 8), extrapolated from a few timed batches, with precise BatchNorm's cost (one
forward pass over the training clips after each epoch) as a ratio to the epoch without it; and the
mel-cache build rate.

    .venv/bin/python bench/train.py [--steps 3] [--precision auto|fp32|bf16|fp16] [--device cpu] [--files 8]

How: model.train.estimate.measure (the same timing a run shows before it starts) runs one warm-up
step, then `--steps` training steps of batch 8, one precise-BN pass over a batch of 16 clips (the
size a run uses) and one inference batch, all on random clips of the GTZAN shape. An epoch is
100 steps + 800 clips of the BN pass + 100 validation clips; 100 epochs x 10 splits is the paper.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from model.device import pick_device  # noqa: E402
from model.mel import MelSpec  # noqa: E402
from model.train.estimate import Timing, format_seconds, measure  # noqa: E402
from model.train.loop import _resolve_precision, precise_bn_batch  # noqa: E402

N_TRAIN, N_VALID, BATCH = 800, 100, 8


def timing(device: torch.device, precision: str, steps: int) -> Timing:
    """measure() with the BN pass timed at the run's own BN batch size."""
    spec = MelSpec()
    t = measure(10, spec.n_frames, spec.n_mels, BATCH, device, precision, steps=steps)
    big = measure(10, spec.n_frames, spec.n_mels, precise_bn_batch(BATCH), device, precision, steps=1)
    return Timing(t.train_batch, t.eval_clip, big.bn_clip)


def cache_rate(n_files: int) -> float:
    from audio_factory import make_track
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
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device")
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    device = pick_device(args.device)
    precisions = ["fp32", _resolve_precision("auto", device)] if args.precision == "auto" else [args.precision]
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"cuda {'yes' if torch.cuda.is_available() else 'no'}")
    for precision in dict.fromkeys(precisions):
        t = timing(device, precision, args.steps)
        plain = t.epoch(N_TRAIN, N_VALID, BATCH, precise_bn=False)
        precise = t.epoch(N_TRAIN, N_VALID, BATCH, precise_bn=True)
        print(f"{precision}: {t.train_batch:.2f} s per training batch of {BATCH}, {t.bn_clip:.3f} s per clip in the "
              f"BN pass, {t.eval_clip:.3f} s per validation clip -> GTZAN epoch {plain:.0f} s without precise BN, "
              f"{precise:.0f} s with it (x{precise / plain:.2f}); 100 epochs x 10 splits: "
              f"{format_seconds(1000 * precise)}")
    rate = cache_rate(args.files)
    print(f"mel cache: {rate:.2f} files/s for 30 s clips -> {1000 / rate / 60:.1f} min to build for GTZAN (1000 clips), once")


if __name__ == "__main__":
    main()
